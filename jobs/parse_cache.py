"""Parse cache: the query log's most frequent queries answered ahead of time (their grounded parse
and closed-book answer), as a new version of the table every Serve replica follows.

    python jobs/parse_cache.py --config jobs/configs/demo.yaml          # after train
    python jobs/parse_cache.py --config jobs/configs/demo.yaml --set serve.parse_cache.top=2000
    ray job submit --working-dir . -- python jobs/parse_cache.py --config jobs/configs/demo.yaml

Run it again when the log, the adapters or the day change (prompts carry the date): replicas
switch to the new version on their next request.
"""

from skutune.cli import run_stage

run_stage("parse-cache", __doc__)  # skutune.pipeline.parse_cache, as `skutune parse-cache` runs it
