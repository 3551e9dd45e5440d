"""Export: the run's trained adapter as a merged Hugging Face model and a portable PEFT adapter,
each with its prompt contract (prompt_contract.json) and a model card.

    python jobs/export.py --config jobs/configs/demo.yaml --set export.adapter=understand
    ray job submit --working-dir . -- python jobs/export.py --config jobs/configs/demo.yaml

Writes runs/<name>/export/<adapter>/merged and .../adapter (skutune.train.export).
"""

from skutune.cli import run_stage

run_stage("export", __doc__)  # skutune.pipeline.export, as `skutune export` runs it
