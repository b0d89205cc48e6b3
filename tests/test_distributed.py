"""Builds on a real Dask cluster: scheduler and workers are separate processes on
this machine (``LocalCluster(processes=True)``, and one ``dask worker`` command).

The workers run the stages' ffmpeg through a wrapper script (``IMAGEIO_FFMPEG_EXE``,
which imageio-ffmpeg honours): it runs the real binary, except once when the test
arms it, then it stops mid-set so the test can kill its worker.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import pytest
import yaml
from click.testing import CliRunner

from pipeline.build import BuildReport, build
from pipeline.cli import main
from pipeline.codecs.video import ffmpeg_version
from pipeline.config import config_from_dict
from pipeline.errors import ConfigError
from pipeline.state.manifest import MANIFEST_NAME
from tests.conftest import write_set
from tests.test_parallel import recorded, tree_bytes

distributed = pytest.importorskip(
    "distributed", reason="needs Dask: pip install 'muscle-assets[dask]' (the dev extra has it)"
)

FRAMES = 4  # orientations per set: enough for every output kind, quick to encode
SIZE = 64
WAIT = 60.0  # seconds before a test gives up on the cluster (nothing may hang)


def _wrapper(folder: Path) -> Path:
    """A stand-in ffmpeg for the workers: the real one, or once (when ``arm``
    exists) a process that writes its worker's pid and its own, then sleeps."""
    script = folder / "ffmpeg"
    arm, stalled = folder / "arm", folder / "stalled"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" != "-version" ] && mv "{arm}" "{arm}.taken" 2>/dev/null; then\n'
        f'  echo "$PPID $$" > "{stalled}.tmp" && mv "{stalled}.tmp" "{stalled}"\n'
        "  exec sleep 120\n"
        "fi\n"
        f'exec "{imageio_ffmpeg.get_ffmpeg_exe()}" "$@"\n'
    )
    script.chmod(0o755)
    return script


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A scheduler and two one-thread worker processes (under nannies, which
    restart a killed worker); yields its address and the wrapper's folder."""
    folder = tmp_path_factory.mktemp("ffmpeg-wrapper")
    env = {"IMAGEIO_FFMPEG_EXE": str(_wrapper(folder))}
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, env=env
    ) as local:
        yield local.scheduler_address, folder


def _config(tmp_path: Path, name: str, **build: Any) -> Path:
    data = {
        "paths": {
            "raw": str(tmp_path / "raw"),
            "output": str(tmp_path / name / "out"),
            "pages": str(tmp_path / name / "pages"),
        },
        "frames": {"count": FRAMES},
        "variants": {"avif": True, "widths": [32]},
        "build": {"jobs": 1, **build},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _sets(tmp_path: Path) -> None:
    write_set(tmp_path / "raw", "Leg-Soleus", size=SIZE, frames=range(1, FRAMES + 1))
    write_set(
        tmp_path / "raw", "Arm-Biceps", size=SIZE, frames=range(1, FRAMES + 1), transparent=False
    )


def _build(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["build", "--config", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


def _same_build(tmp_path: Path, one: str, other: str) -> None:
    """Every output, the manifest's record of it, and every page are the same."""
    a, b = tmp_path / one, tmp_path / other
    assert tree_bytes(a / "out") == tree_bytes(b / "out")
    assert recorded(a / "out") == recorded(b / "out")
    assert tree_bytes(a / "pages") == tree_bytes(b / "pages")


def test_cluster_build_is_byte_identical_to_a_local_build(
    tmp_path: Path, cluster: tuple[str, Path]
) -> None:
    address, _ = cluster
    _sets(tmp_path)
    code, out, err = _build(_config(tmp_path, "local"))
    assert code == 0, err
    code, remote_out, err = _build(_config(tmp_path, "remote"), "--scheduler", address)
    assert code == 0, err
    written = out.split(";")[1].split(",")[0]
    assert remote_out.startswith("2 set(s) built") and written in remote_out
    assert len(tree_bytes(tmp_path / "remote" / "pages")) == 2
    _same_build(tmp_path, "local", "remote")
    # a second build on the cluster has nothing to send
    code, out, _ = _build(_config(tmp_path, "remote"), "--scheduler", address)
    assert code == 0 and out.startswith("0 set(s) built, 2 up to date")
    # a thumbnail change rebuilds the thumbnails only, there as here
    counts = []
    for name, extra in (("local", {}), ("remote", {"scheduler": address})):
        config = _config(tmp_path, name, **extra)
        data = yaml.safe_load(config.read_text())
        data["thumbs"] = {"width": 16, "height": 16}
        config.write_text(yaml.safe_dump(data))
        code, out, err = _build(config, "-v")
        assert code == 0, err
        counts.append(sorted(line for line in out.splitlines() if "wrote" in line))
    assert counts[0] == counts[1]
    assert counts[0] and all("-thumb." in line for line in counts[0])
    _same_build(tmp_path, "local", "remote")


def test_a_worker_killed_mid_set_has_its_set_retried_elsewhere(
    tmp_path: Path, cluster: tuple[str, Path]
) -> None:
    address, folder = cluster
    stalled = folder / "stalled"
    stalled.unlink(missing_ok=True)
    write_set(tmp_path / "raw", "Leg-Soleus", size=SIZE, frames=range(1, FRAMES + 1))
    local = build(_load(_config(tmp_path, "local")))
    assert local.ok
    (folder / "arm").touch()
    reports: list[BuildReport] = []
    config = _load(_config(tmp_path, "remote", scheduler=address))
    builder = threading.Thread(target=lambda: reports.append(build(config)), daemon=True)
    builder.start()
    deadline = time.monotonic() + WAIT
    while not stalled.exists():  # the set's first video encode: mid-set
        assert time.monotonic() < deadline, "no worker reached ffmpeg"
        time.sleep(0.05)
    worker, sleeper = (int(pid) for pid in stalled.read_text().split())
    os.kill(worker, signal.SIGKILL)
    os.kill(sleeper, signal.SIGKILL)
    builder.join(WAIT)
    assert not builder.is_alive(), "the build did not finish after its worker died"
    (report,) = reports
    assert [(r.status, r.error) for r in report.results] == [("built", None)]
    assert report.files_written == local.files_written
    assert tree_bytes(tmp_path / "local" / "out") == tree_bytes(tmp_path / "remote" / "out")
    assert recorded(tmp_path / "local" / "out") == recorded(tmp_path / "remote" / "out")


def test_ctrl_c_takes_the_build_off_the_cluster(tmp_path: Path, cluster: tuple[str, Path]) -> None:
    address, folder = cluster
    stalled = folder / "stalled"
    stalled.unlink(missing_ok=True)
    _sets(tmp_path)
    (folder / "arm").touch()
    cli = Path(sys.executable).with_name("muscle-assets")
    config = _config(tmp_path, "remote", scheduler=address)
    build = subprocess.Popen(
        [str(cli), "build", "-q", "--config", str(config)], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + WAIT
    try:
        while not stalled.exists():
            assert time.monotonic() < deadline and build.poll() is None, "no set reached ffmpeg"
            time.sleep(0.05)
        build.send_signal(signal.SIGINT)
        _, err = build.communicate(timeout=WAIT)
        assert build.returncode != 0 and "Aborted" in err
        with distributed.Client(address, set_as_default=False) as client:
            while ours := client.run_on_scheduler(_our_tasks):
                assert time.monotonic() < deadline, f"still on the cluster: {ours}"
                time.sleep(0.1)
    finally:
        build.kill()
        if stalled.exists():  # free the worker thread stuck in "ffmpeg"
            _, sleeper = (int(pid) for pid in stalled.read_text().split())
            os.kill(sleeper, signal.SIGKILL)


def _our_tasks(dask_scheduler: Any) -> list[str]:
    return [str(k) for k in dask_scheduler.tasks if str(k).startswith("muscle-assets-")]


def _load(path: Path) -> Any:
    data = yaml.safe_load(path.read_text())
    return config_from_dict(data, path.parent)


def test_a_worker_with_another_ffmpeg_is_refused_by_name(
    tmp_path: Path, cluster: tuple[str, Path]
) -> None:
    """A real second ffmpeg (Debian's) on one extra worker, started with the
    ``dask worker`` command as a lab would."""
    address, _ = cluster
    other = shutil.which("ffmpeg")
    if other is None:
        pytest.skip("needs a system ffmpeg besides imageio-ffmpeg's")
    ours, theirs = ffmpeg_version(imageio_ffmpeg.get_ffmpeg_exe()), ffmpeg_version(other)
    if ours == theirs:
        pytest.skip("the system ffmpeg is the same version as imageio-ffmpeg's")
    dask = Path(sys.executable).with_name("dask")
    odd = subprocess.Popen(
        [str(dask), "worker", address, "--nthreads", "1", "--no-nanny", "--name", "odd-ffmpeg"],
        env={**os.environ, "IMAGEIO_FFMPEG_EXE": other},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with distributed.Client(address, set_as_default=False) as client:
            deadline = time.monotonic() + WAIT
            while not (named := _worker_named(client, "odd-ffmpeg")):
                assert time.monotonic() < deadline and odd.poll() is None, "worker never joined"
                time.sleep(0.1)
        _sets(tmp_path)
        code, out, err = _build(_config(tmp_path, "remote"), "--scheduler", address)
    finally:
        odd.terminate()
        odd.wait(WAIT)
    assert code == 1 and out == ""
    (line,) = err.splitlines()
    assert f"{named}: ffmpeg {theirs!r} (here: {ours!r})" in line
    assert line.count("tcp://") == 2  # the scheduler and the odd worker, not the others
    out_root = tmp_path / "remote" / "out"
    assert tree_bytes(out_root) == {} and not (out_root / MANIFEST_NAME).exists()


def _worker_named(client: Any, name: str) -> str | None:
    workers = client.scheduler_info()["workers"]
    return next((addr for addr, w in workers.items() if w.get("name") == name), None)


@pytest.mark.parametrize("address", ["localhost:8786", "tcp://", "tcp://host:port", "http://h"])
def test_a_scheduler_address_is_checked_up_front(tmp_path: Path, address: str) -> None:
    (tmp_path / "raw").mkdir()
    with pytest.raises(ConfigError, match=r"build\.scheduler: expected a Dask scheduler address"):
        config_from_dict({"paths": {"raw": "raw"}, "build": {"scheduler": address}}, tmp_path)
