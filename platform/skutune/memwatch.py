"""Peak resident memory of a local Ray run, sampled from a thread: the driver (this process),
Ray's worker processes (their titles start with "ray::"), and everything together (with the
raylet, GCS and other Ray system processes). Benchmarks use it; tests assert behaviour."""

import threading

import psutil


class PeakRSS:
    def __init__(self, every_s: float = 0.25):
        self.driver = self.worker = self.workers = self.peak = 0  # bytes; worker: the largest one, workers: their sum
        self.every_s, self.stop = every_s, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def sample(self):
        me = psutil.Process()
        total = workers = largest = 0
        for p in [me, *me.children(recursive=True)]:
            try:
                rss, title = p.memory_info().rss, (p.cmdline() or [""])[0]
            except psutil.Error:
                continue
            total += rss
            if title.startswith("ray::"):
                workers += rss
                largest = max(largest, rss)
        self.driver = max(self.driver, me.memory_info().rss)
        self.worker, self.workers, self.peak = max(self.worker, largest), max(self.workers, workers), max(self.peak, total)

    def _run(self):
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.every_s)

    def gib(self) -> dict:
        return {k: round(getattr(self, k) / 2**30, 3) for k in ("driver", "worker", "workers", "peak")}

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
