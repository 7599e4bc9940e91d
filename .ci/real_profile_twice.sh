#!/usr/bin/env bash
# The scripted playthrough against the dev backend's real-service profile, twice on one cache
# directory: the first run must end every request and every prefetch ready, the second must
# create nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for run in 1 2; do
  cargo run -q --example scene_player -- --headless --choices 1,2,1 --backend dev-real \
    --cache-dir "$dir/cache" > "$dir/run$run.jsonl"
done
python3 - "$dir" <<'PY'
import json, sys
dir = sys.argv[1]
def events(run):
    return [json.loads(line) for line in open(f"{dir}/run{run}.jsonl") if line.strip()]
first, second = events(1), events(2)
summary = first[-1]
prefetches = [e for e in first if e["event"] == "prefetch"]
prefetch_ready = [e for e in first if e["event"] == "prefetch_ready"]
assert summary["status"] == "ok" and summary["failed"] == 0, summary
assert summary["ready"] == summary["requested"], summary
assert len(prefetch_ready) == len(prefetches) > 0, (len(prefetch_ready), len(prefetches))
creates = second[-1]["backend"]["creates"]
assert creates == 0, second[-1]
print(f"real-service profile: {summary['ready']} requests and {len(prefetches)} prefetches "
      f"ready; second run: {creates} creates")
PY
