"""platform/ must stay a plain folder: a package named `platform` would shadow the
standard library module, and Ray puts a job's working dir first on sys.path."""

from conftest import REPO


def test_platform_is_not_a_package():
    assert (REPO / "platform" / "skutune" / "__init__.py").exists()
    assert not (REPO / "platform" / "__init__.py").exists()


def test_stdlib_platform_inside_ray_task_with_working_dir(ray_local):
    ray = ray_local

    @ray.remote(runtime_env={"working_dir": str(REPO)})
    def probe():
        import os
        import platform
        import sys

        import skutune

        return platform.system(), platform.__file__, os.getcwd(), sys.path[:3], skutune.__file__

    system, platform_file, cwd, path, skutune_file = ray.get(probe.remote())
    assert system == "Linux"
    assert "python3" in platform_file and "/platform/" not in platform_file  # the standard library's module
    assert (REPO / "platform").name in {p.split("/")[-1] for p in [cwd + "/platform"]}  # the job cwd holds platform/
    assert skutune_file.endswith("skutune/__init__.py")
