package samples

import (
	"context"
	"sync"
)

type FetchResult struct {
	URL  string
	Body []byte
	Err  error
}

func FetchAll(ctx context.Context, urls []string, fetch func(context.Context, string) ([]byte, error)) []FetchResult {
	results := make([]FetchResult, len(urls))
	var wg sync.WaitGroup
	for i, url := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, err := fetch(ctx, url)
			results[i] = FetchResult{URL: url, Body: body, Err: err}
		}()
	}
	wg.Wait()
	return results
}
