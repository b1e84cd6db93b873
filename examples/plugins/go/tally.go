// tally: a bulkhead plugin written in Go only, with the SDK in plugin-sdk/go.
//
//	add(word: str, n: int = 1)   the word's new count
//	top()                        map word -> count
//	forward(target: str, ...)    calls target ("plugin.method", when the config's
//	                             `calls` grants it) with the other params: its result
//	panic()                      panics: the caller gets plugin_error with the value
//
// Config (optional): max_words (default 1000). The counts survive a hot swap
// (state_version 1: a map word -> count).
// Build: go build -buildmode=c-shared -o tally.so .
package main

import bulkhead "bulkhead/plugin"

var (
	counts         = map[string]int64{}
	maxWords int64 = 1000
)

func add(a bulkhead.Args) (any, error) {
	word, err := a.Str(0, "word")
	if err != nil {
		return nil, err
	}
	n := int64(1)
	if a.Len() > 1 {
		if n, err = a.Int(1, "n"); err != nil {
			return nil, err
		}
	}
	if _, ok := counts[word]; !ok && int64(len(counts)) >= maxWords {
		return nil, bulkhead.Errorf(bulkhead.InvalidParams, "full: %d words", maxWords)
	}
	counts[word] += n
	return counts[word], nil
}

func top(bulkhead.Args) (any, error) {
	m := make(map[string]any, len(counts))
	for w, n := range counts {
		m[w] = n
	}
	return m, nil
}

func forward(a bulkhead.Args) (any, error) {
	target, err := a.Str(0, "target")
	if err != nil {
		return nil, err
	}
	var result any
	err = bulkhead.Callout(target, func(w *bulkhead.Writer) {
		w.Array(a.Len() - 1)
		for i := 1; i < a.Len(); i++ {
			w.Value(a.Get(i))
		}
	}, func(v bulkhead.Value) (err error) {
		result, err = v.Any() // v lives only until this function returns
		return err
	})
	return result, err
}

func snapshot(w *bulkhead.Writer) error {
	m, _ := top(bulkhead.Args{})
	return w.Put(m)
}

func restore(version uint32, blob bulkhead.Value) error {
	if blob.Kind() != bulkhead.MapKind {
		return bulkhead.Errorf(bulkhead.PluginError, "state: want a map, got %s", blob.Kind())
	}
	for i := 0; i < blob.Len(); i++ {
		k, v := blob.Pair(i)
		word, ok1 := k.Str()
		n, ok2 := v.Int()
		if !ok1 || !ok2 {
			return bulkhead.Errorf(bulkhead.PluginError, "state: entry %d is not word -> count", i)
		}
		counts[word] = n
	}
	return nil
}

func init() {
	bulkhead.Define(bulkhead.Plugin{
		Name:    "tally",
		Version: "1.0.0",
		Init: func(config bulkhead.Map) (err error) {
			if config.Has("max_words") {
				maxWords, err = config.Int("max_words")
			}
			return err
		},
		Methods: map[string]bulkhead.Method{
			"add":     add,
			"top":     top,
			"forward": forward,
			"panic":   func(bulkhead.Args) (any, error) { panic("tally panicked on purpose") },
		},
		StateVersion: 1,
		Snapshot:     snapshot,
		Restore:      restore,
	})
}

func main() {}
