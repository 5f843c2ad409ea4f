"""The suite's expensive shared runs (a reference training, two processes of a
script) are computed once per worker and cached; tests that share one carry the
same ``xdist_group`` mark, and ``--dist loadgroup`` (setup.cfg) sends them to one
worker. pytest 9.2 silently stopped that grouping (pytest-xdist#1386): every
shared run was then made on both workers, and the suite took minutes longer
while passing. This test fails when the grouping stops taking effect."""

import pytest


def _controller_dist(config) -> str:
    """The controller's ``--dist`` (a worker's own option reads "no"): the last
    one in setup.cfg's addopts and the command line."""
    args = [*config.getini("addopts"), *config.workerinput["mainargv"]]
    dist = "no"
    for index, arg in enumerate(args):
        if arg == "--dist" and index + 1 < len(args):
            dist = args[index + 1]
        elif arg.startswith("--dist="):
            dist = arg.split("=", 1)[1]
    return dist


@pytest.mark.xdist_group("grouping_guard")
def test_loadgroup_grouping_is_in_effect(request):
    on_a_worker = hasattr(request.config, "workerinput")
    loadgroup = on_a_worker and _controller_dist(request.config) == "loadgroup"
    # xdist's loadgroup scheduling keys on the group suffix of the node id.
    assert request.node.nodeid.endswith("@grouping_guard") == loadgroup
