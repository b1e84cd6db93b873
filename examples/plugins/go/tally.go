// tally: a bulkhead plugin written in Go only, with the SDK in plugin-sdk/go.
//
//	add(word: str, n: int = 1)   the word's new count
//	top()                        map word -> count
//	panic()                      panics: the caller gets plugin_error with the value
//
// Config (optional): max_words (default 1000).
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

func top(a bulkhead.Args) (any, error) {
	m := make(map[string]any, len(counts))
	for w, n := range counts {
		m[w] = n
	}
	return m, nil
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
			"add":   add,
			"top":   top,
			"panic": func(bulkhead.Args) (any, error) { panic("tally panicked on purpose") },
		},
	})
}

func main() {}
