module github.com/vigilsec/vigil/internal/testkit

go 1.26.8
