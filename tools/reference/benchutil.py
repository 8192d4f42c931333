"""Timing and memory helpers shared by torch_reference.py and keras_reference.py (`serve`).

`flowers bench` writes the embedded scripts and this module into one folder and runs the
scripts from there, so `import benchutil` finds it as it does when they run from this folder.
"""
import resource
import time


def vmhwm_mib():
    """This process's peak resident set size (VmHWM) in MiB."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak():
    """Resets VmHWM, so that a Meter reports the peak of its own section."""
    try:
        open("/proc/self/clear_refs", "w").write("5")
    except OSError:
        pass


class Meter:
    """Wall time, CPU time (this process and its finished children) and peak RSS of a section;
    with children = True the peak adds the largest finished child's (DataLoader workers)."""

    children = False

    def __enter__(self):
        reset_peak()
        self.ru0 = self.cpu()
        self.t0 = time.perf_counter()
        return self

    @staticmethod
    def cpu():
        s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self.cpu_seconds = self.cpu() - self.ru0
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        self.peak = vmhwm_mib() + (children if self.children else 0)


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def timed_runs(fn, duration, min_runs=1):
    """Calls fn until duration seconds have passed (at least min_runs times); their times."""
    times = []
    end = time.time() + duration
    while len(times) < min_runs or time.time() < end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def epochs_answer(n, epochs, peak):
    """The answer of a task timed by epoch over n photos: the last of epochs, (seconds, cpu_seconds) each."""
    secs, cpu = epochs[-1]
    return {"images": n, "seconds": secs, "epoch_seconds": [s for s, _ in epochs], "images_per_sec": n / secs,
            "peak_rss_mib": peak, "cpu_seconds_per_image": cpu / n}
