package store

import (
	"errors"
	"strings"
)

type Store struct {
	items map[string]int
}

func (s *Store) Add(name string, n int) error {
	if n <= 0 {
		return errors.New("n must be positive")
	}
	key := strings.ToLower(name)
	s.items[key] += n
	return nil
}

func (s *Store) Total(names []string) (int, error) {
	var err error
	total := 0
	for _, name := range names {
		count, ok := s.items[name]
		if !ok {
			err = errors.New("missing " + name)
			continue
		}
		total += count
	}
	return total, err
}
