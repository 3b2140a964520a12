package config

// MinQueueMaxBytes is the smallest influx.queue_max_bytes: the on-disk
// queue honours any bound from here on exactly (its segments are 1/16 of
// the bound, at least 4 KiB, and only whole samples are dropped).
const MinQueueMaxBytes = 64 << 10
