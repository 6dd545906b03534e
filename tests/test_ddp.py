"""The network under DistributedDataParallel (gloo, CPU, 2 processes): every parameter gets a
gradient (DDP's default find_unused_parameters=False would fail the second step otherwise), and
the averaged gradients equal single-process gradients on the same total batch."""

from __future__ import annotations

import copy
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import make_plans
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
from torch.nn.parallel import DistributedDataParallel

from nnunetv2_glsp.trainers import GLSPTrainer_S

WORLD_SIZE = 2


def build_network() -> torch.nn.Module:
    plans_manager = PlansManager(make_plans())
    configuration = plans_manager.get_configuration("3d_fullres")
    return GLSPTrainer_S.build_network_architecture(plans_manager, configuration, 1, 3, True)


def loss_fn(outputs: list[torch.Tensor]) -> torch.Tensor:
    """Mean over the batch of per-sample losses on every deep-supervision output."""
    return sum(((output - 0.1 * level) ** 2).mean() for level, output in enumerate(outputs))


def worker(rank: int, port: int, state: dict, inputs: torch.Tensor, result_file: str) -> None:
    os.environ |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    torch.set_num_threads(1)
    network = build_network()
    network.load_state_dict(state)
    model = DistributedDataParallel(network)
    for _ in range(2):  # a parameter without gradient makes the second forward raise
        model.zero_grad()
        loss_fn(model(inputs[rank : rank + 1])).backward()
    if rank == 0:
        torch.save({name: p.grad for name, p in network.named_parameters()}, result_file)
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ddp_gradients_match_single_process(tmp_path):
    torch.manual_seed(0)
    network = build_network()
    # perturb the zero-initialised fusion gates so that the branch receives gradients too
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    inputs = torch.randn(WORLD_SIZE, 1, 16, 32, 32)
    state = copy.deepcopy(network.state_dict())  # tensors and the config record

    loss_fn(network(inputs)).backward()
    missing = [name for name, p in network.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"

    result_file = str(tmp_path / "ddp_grads.pt")
    mp.spawn(worker, args=(free_port(), state, inputs, result_file), nprocs=WORLD_SIZE,
             join=True)
    ddp_grads = torch.load(result_file)
    for name, parameter in network.named_parameters():
        torch.testing.assert_close(ddp_grads[name], parameter.grad, rtol=1e-4, atol=1e-6,
                                   msg=lambda text, name=name: f"{name}: {text}")
