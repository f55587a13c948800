# peakready's knobs: Redis (role redis, on cache_servers).
# (What a declaration is: peakready/schema/__init__.py.)

# maxmemory and maxclients come from the plan above.

# What Redis evicts when full: allkeys-lru suits a cache (the least recently used key goes).
redis_maxmemory_policy: "group: eviction_policy" = "allkeys-lru"
# Keys sampled per eviction: 5 is Redis's default, 10 is closer to true LRU for more CPU.
redis_maxmemory_samples: "group: integer(1, 64)" = 5
# The app's Redis ACL user (no FLUSHALL, FLUSHDB, CONFIG, DEBUG, KEYS or other admin commands).
redis_app_user: "group: user_name" = "app"
# Rewrite the append-only file when it has grown this many percent since the last rewrite...
redis_aof_rewrite_percentage: "group: integer(0, 1000)" = 100
# ...and is at least this big (MB).
redis_aof_rewrite_min_mb: "group: integer(1, 1 << 16)" = 64
