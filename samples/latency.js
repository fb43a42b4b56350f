"use strict";

function percentile(samples, p) {
  if (samples.length === 0) {
    return null;
  }
  if (p < 0 || p > 100) {
    throw new RangeError(`percentile must be within 0..100, got ${p}`);
  }
  const sorted = [...samples].sort();
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.max(rank, 0)];
}

function summarize(samples) {
  return {
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    p99: percentile(samples, 99),
  };
}

module.exports = { percentile, summarize };
