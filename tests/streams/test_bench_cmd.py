"""`vigie bench`: the options reach the benchmark, and its figures come out as key=value lines."""

from __future__ import annotations

import argparse
import sys
import types

from streams import bench_cmd
from streams.config import Settings


def test_events_and_the_database_reach_the_processor_bench(monkeypatch, capsys, tmp_path):
    seen = {}
    module = types.ModuleType("fake_bench")

    def fake(**options):
        seen.update(options)
        return {"events": options.get("n_events"), "ratio_to_ceiling": 0.5}

    module.fake = fake
    monkeypatch.setitem(sys.modules, "fake_bench", module)
    monkeypatch.setitem(bench_cmd.BENCHMARKS, "processor", ("fake_bench", "fake"))
    parser = argparse.ArgumentParser()
    bench_cmd.add_arguments(parser)
    url = f"sqlite:///{tmp_path / 'x.db'}"
    status = bench_cmd.run(parser.parse_args(["processor", "--events", "1234"]),
                           Settings(data_dir=tmp_path, database_url=url))
    assert status == 0 and seen == {"n_events": 1234, "database_url": url}
    assert capsys.readouterr().out.splitlines() == ["# processor", "events=1234", "ratio_to_ceiling=0.5"]
    seen.clear()
    bench_cmd.run(parser.parse_args(["processor"]), Settings(data_dir=tmp_path))
    assert seen == {}  # the bench's own defaults: 400,000 events, SQLite
