"""Starting or joining Ray the same way in every job."""

import logging
import os

import ray

log = logging.getLogger(__name__)


def init_ray(cpus_needed: float = 0) -> None:
    """Join the cluster a job was submitted to (RAY_ADDRESS is set by `ray job submit`), or
    start a local one. Locally the CPU count is raised to leave one logical CPU for Ray
    Data's read tasks beside the training workers; torch thread counts are set explicitly,
    so this over-subscribes nothing real."""
    if ray.is_initialized():
        return
    # Ray Data's bars redraw per update and flood job logs; jobs print their own progress.
    ray.data.DataContext.get_current().enable_progress_bars = False
    if os.environ.get("RAY_ADDRESS"):
        ray.init()
        return
    cores = os.cpu_count() or 1
    # The dashboard's processes poll metrics all the time: measured on 2 cores, they cost a
    # training worker ~5% of its speed. SKUTUNE_RAY_DASHBOARD=1 starts it anyway.
    ray.init(num_cpus=max(cores, int(cpus_needed) + 1), include_dashboard=os.environ.get("SKUTUNE_RAY_DASHBOARD") == "1")
    log.info("started a local Ray with %s logical CPUs on %s cores", ray.cluster_resources().get("CPU"), cores)
