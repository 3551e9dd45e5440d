"""Peak memory of a local Ray run, sampled from a thread: the driver (this process), Ray's
worker processes (their titles start with "ray::"), and everything together (with the raylet,
GCS and other Ray system processes).

Proportional set size (PSS), not RSS: workers map Ray's shared-memory object store, and RSS
counts every shared page in full in every process that touched it, so summed RSS overstates
and one worker's RSS includes objects it only read. PSS splits each shared page between the
processes that map it. Benchmarks use it; tests assert behaviour."""

import threading

import psutil


class PeakRSS:
    def __init__(self, every_s: float = 0.25):
        self.driver = self.worker = self.workers = self.peak = 0  # bytes; worker: the largest one, workers: their sum
        self.largest = ""  # the largest worker's title, e.g. "ray::HashShuffleAggregator"
        self.every_s, self.stop = every_s, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def sample(self):
        me = psutil.Process()
        total = workers = largest = 0
        title_of_largest = ""
        for p in [me, *me.children(recursive=True)]:
            try:
                rss, title = p.memory_full_info().pss, (p.cmdline() or [""])[0]
            except psutil.Error:
                continue
            total += rss
            if title.startswith("ray::"):
                workers += rss
                if rss > largest:
                    largest, title_of_largest = rss, title
        self.driver = max(self.driver, me.memory_full_info().pss)
        if largest > self.worker:
            self.worker, self.largest = largest, title_of_largest
        self.workers, self.peak = max(self.workers, workers), max(self.peak, total)

    def _run(self):
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.every_s)

    def gib(self) -> dict:
        return {
            **{k: round(getattr(self, k) / 2**30, 3) for k in ("driver", "worker", "workers", "peak")},
            "largest_worker": self.largest,
        }

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
