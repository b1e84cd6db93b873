module bulkhead/examples/tally

go 1.19

require bulkhead/plugin v0.0.0

replace bulkhead/plugin => ../../../plugin-sdk/go
