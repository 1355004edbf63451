"""The examples' notebook, run as Jupyter runs it, against a devnet whose
providers run Docker containers."""

import re

import nbformat
from nbclient import NotebookClient

import gpunet

from conftest import REPO, wait_for_machines


def test_the_training_notebook_trains_on_the_network_and_plots_its_metrics(
    docker_devnet, monkeypatch
):
    monkeypatch.setenv("GPUNET_CONFIG", str(docker_devnet))
    wait_for_machines(gpunet.Client(), 2)
    notebook = REPO / "examples" / "notebooks" / "training.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(
        nb,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(notebook.parent)}},
    ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"], outputs
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    # The logs were followed to the last epoch, the outputs fetched and
    # verified against the root the provider reported, and the metrics
    # they hold plotted.
    assert "epoch  40  loss" in text, text
    assert re.search(r"order \d+ (reported|settled) output root [0-9a-f]{64}", text), text
    plots = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.data]
    assert len(plots) == 1, outputs
    accuracy = float(re.search(r"final test accuracy (\d\.\d+)", text).group(1))
    assert accuracy > 0.9, text
