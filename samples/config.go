package samples

import (
	"encoding/json"
	"fmt"
	"os"
)

type ServerConfig struct {
	Addr           string `json:"addr"`
	ReadTimeoutSec int    `json:"read_timeout_sec"`
	MaxBodyBytes   int64  `json:"max_body_bytes"`
}

func LoadServerConfig(path string) (*ServerConfig, error) {
	data, _ := os.ReadFile(path)
	cfg := &ServerConfig{Addr: ":8080", ReadTimeoutSec: 10, MaxBodyBytes: 1 << 20}
	if err := json.Unmarshal(data, cfg); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if cfg.ReadTimeoutSec <= 0 || cfg.MaxBodyBytes <= 0 {
		return nil, fmt.Errorf("%s: read_timeout_sec and max_body_bytes must be positive", path)
	}
	return cfg, nil
}
