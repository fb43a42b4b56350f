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

func (s *Store) count(name string) (int, error) {
	n, ok := s.items[name]
	if !ok {
		return 0, errors.New("missing " + name)
	}
	return n, nil
}

func (s *Store) Sum(names []string) (total int, err error) {
	for _, name := range names {
		n, err := s.count(name)
		if err != nil {
			break
		}
		total += n
	}
	return total, err
}
