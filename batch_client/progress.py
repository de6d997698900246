"""The batch CLI's progress bar: audio time drives the bar and its ETA; files and hours are in its description."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from tqdm import tqdm

from batch_client.jobs import Job

BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}, {rate_fmt}]"


def _milliseconds(job: Job) -> int:
    # Whole milliseconds: float seconds summed in another order would overshoot the total.
    return round(job.seconds * 1000)


class BatchProgress:
    """Counts audio milliseconds when the files' lengths are known (tqdm shows them as seconds), else files."""

    def __init__(self, jobs: Sequence[Job], stream: TextIO | None = None) -> None:
        self.files_total = len(jobs)
        self.files_done = 0
        self.ms_total = sum(_milliseconds(job) for job in jobs)
        self.ms_done = 0
        self._by_audio = self.ms_total > 0
        self.bar = tqdm(
            total=self.ms_total if self._by_audio else self.files_total,
            unit="audio-s" if self._by_audio else "file",
            unit_scale=0.001 if self._by_audio else False,
            desc=self.description(),
            bar_format=BAR_FORMAT,
            file=stream or sys.stderr,
            dynamic_ncols=True,
        )

    def description(self) -> str:
        hours_done, hours_total = self.ms_done / 3_600_000, self.ms_total / 3_600_000
        return f"{self.files_done}/{self.files_total} files, {hours_done:.2f}/{hours_total:.2f} h audio"

    def finished(self, job: Job) -> None:
        """`job` is over, done or failed: its audio no longer counts as remaining."""
        self.files_done += 1
        self.ms_done += _milliseconds(job)
        self.bar.set_description_str(self.description(), refresh=False)
        self.bar.update(_milliseconds(job) if self._by_audio else 1)

    def close(self) -> None:
        self.bar.close()
