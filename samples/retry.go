package samples

import (
	"context"
	"fmt"
	"time"
)

func Retry(ctx context.Context, attempts int, delay time.Duration, op func(context.Context) error) error {
	if attempts < 1 {
		return fmt.Errorf("retry: attempts must be at least 1, got %d", attempts)
	}
	var err error
	for attempt := 1; attempt <= attempts; attempt++ {
		if err = op(ctx); err == nil {
			return nil
		}
		if attempt == attempts {
			break
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("retry: %w (last error: %v)", ctx.Err(), err)
		case <-timer.C:
		}
		delay *= 2
	}
	return fmt.Errorf("retry: %d attempts failed: %w", attempts, err)
}
