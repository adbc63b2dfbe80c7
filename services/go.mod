module github.com/unigate/unigate/services

go 1.26.0

replace (
	github.com/unigate/unigate/pkg => ../pkg
	github.com/unigate/unigate/proto => ../proto
)
