module bulkhead/plugin

go 1.19
