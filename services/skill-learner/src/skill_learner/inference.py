"""Policy inference inside an env runner: a copy of the network, the GRU state of each env, action sampling.

The learner publishes its weights as one flat float32 vector (`weights_vector`), numbered by the
learner version that produced them (`PublishedWeights`; in training the vector is a Ray object
reference, `ray.put` once and read by every runner). A runner copies a newer vector into its
network between rollouts (`RunnerPolicy.load`), so all actions of one rollout come from one version.

Per group of environments the policy runs in two halves, so that a runner can step one group while
the device computes the next actions of another: `launch` starts the forward pass, `collect` waits
for it and samples the actions on the CPU with the runner's own generator (Gumbel-max: argmax of
log-probability plus Gumbel noise, an exact draw from the policy). The generator's state is saved
in checkpoints, so a resumed run continues the same stream of random numbers.

On CUDA, each group's forward pass is captured once as a CUDA graph (`_GroupGraph`): one launch
replays all its kernels, which keeps the runner's CPU time per step small and the GPU, shared by
all runners and the learner, busy with fewer, larger submissions. Inputs go through pinned buffers
and the log-probabilities come back into one, asynchronously. On the CPU (or where a capture
fails) the network runs eagerly.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishedWeights:
    """The learner's weights as the runners receive them."""

    version: int
    """Learner updates done when the weights were taken."""
    vector: Any
    """float32 [parameters] numpy vector (`weights_vector`), or a Ray object reference to one."""


def weights_vector(network: nn.Module) -> np.ndarray:
    """All parameters of `network`, flattened in `parameters()` order, as a float32 numpy vector."""
    with torch.no_grad():
        return parameters_to_vector(p.float() for p in network.parameters()).cpu().numpy()


def load_weights_vector(network: nn.Module, vector: np.ndarray) -> None:
    """Copy a `weights_vector` into the parameters of `network`, in place: captured CUDA graphs keep reading
    the same tensors (torch's `vector_to_parameters` swaps them, which would leave a graph on the old ones)."""
    with torch.no_grad():
        device = next(network.parameters()).device
        flat = torch.from_numpy(np.asarray(vector, dtype=np.float32)).to(device)
        start = 0
        for parameter in network.parameters():
            count = parameter.numel()
            parameter.copy_(flat[start:start + count].view_as(parameter))
            start += count
    if start != flat.numel():
        raise ValueError(f"the weights vector has {flat.numel()} values; the network has {start} parameters")


class _GroupGraph:
    """One group's forward pass captured as a CUDA graph: static inputs, state and log-probabilities."""

    def __init__(self, network: nn.Module, features: dict[str, np.ndarray], state: torch.Tensor, autocast: bool):
        device = state.device
        self.inputs = {key: torch.zeros((1, *value.shape), dtype=torch.from_numpy(value).dtype, device=device)
                       for key, value in features.items()}
        self.host = {key: torch.empty(value.shape, dtype=torch.from_numpy(value).dtype, pin_memory=True)
                     for key, value in features.items()}
        self.state = state.clone()
        self.graph = torch.cuda.CUDAGraph()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):  # warm-up (cuDNN and allocator choices) before capture, on the state's copy
                _forward(network, self.inputs, self.state.clone(), autocast)
        torch.cuda.current_stream().wait_stream(side)
        with torch.cuda.graph(self.graph):
            log_probs, new_state = _forward(network, self.inputs, self.state, autocast)
            self.state.copy_(new_state)
        self.log_probs = log_probs

    def replay(self, features: dict[str, np.ndarray]) -> torch.Tensor:
        for key, value in features.items():
            self.host[key].numpy()[...] = value
            self.inputs[key][0].copy_(self.host[key], non_blocking=True)
        self.graph.replay()
        return self.log_probs


def _forward(network: nn.Module, inputs: dict[str, torch.Tensor], state: torch.Tensor,
             autocast: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-probabilities [n, A] float32, new state) of one step of inputs [1, n, ...]."""
    with torch.autocast(state.device.type, dtype=torch.bfloat16, enabled=autocast, cache_enabled=False):
        logits, _, new_state = network(inputs, state)
    return torch.log_softmax(logits[0].float(), dim=-1), new_state.to(state.dtype)


class RunnerPolicy:
    """The behaviour policy of one runner's environments, split in groups; see the module docstring."""

    def __init__(self, network: nn.Module, group_sizes: list[int], device: torch.device, *, autocast: bool,
                 state_batch_dim: int, generator_state: dict[str, Any] | None, seed: Any):
        self.network = network.to(device).eval()
        self.device, self.autocast, self.batch_dim = device, autocast, state_batch_dim
        self.version = -1
        self.rng = np.random.default_rng(seed)
        if generator_state is not None:
            self.rng.bit_generator.state = generator_state
        self.states = [network.initial_state(n, device) for n in group_sizes]
        self.use_graphs = device.type == "cuda"
        self.graphs: list[_GroupGraph | None] = [None] * len(group_sizes)
        self._outputs: list[torch.Tensor | None] = [None] * len(group_sizes)
        self._done: list[Any] = [None] * len(group_sizes)
        self.wait_seconds = 0.0
        """Time `collect` spent waiting for the device (summed)."""

    def generator_state(self) -> dict[str, Any]:
        """The sampling generator's state (JSON-able)."""
        return self.rng.bit_generator.state

    def load(self, weights: PublishedWeights) -> None:
        """Take `weights` if they are newer than the ones in use (the vector is fetched from Ray if needed)."""
        if weights.version <= self.version:
            return
        vector = weights.vector
        if not isinstance(vector, np.ndarray):
            import ray

            vector = ray.get(vector)
        load_weights_vector(self.network, vector)
        self.version = weights.version

    def state(self, group: int) -> np.ndarray:
        """A copy of the recurrent state of `group` (before its next decision)."""
        return self._state(group).detach().to("cpu", copy=True).numpy()

    def _state(self, group: int) -> torch.Tensor:
        graph = self.graphs[group]
        return graph.state if graph is not None else self.states[group]

    @torch.no_grad()
    def launch(self, group: int, features: dict[str, np.ndarray]) -> None:
        """Start the forward pass of `group` on `features` [n, ...] (its outputs are read by `collect`)."""
        if self.use_graphs and self.graphs[group] is None:
            try:
                self.graphs[group] = _GroupGraph(self.network, features, self.states[group], self.autocast)
            except RuntimeError as error:  # a torch/driver combination that cannot capture: run eagerly
                log.warning("CUDA graph capture failed (%s); inference runs eagerly", error)
                self.use_graphs = False
        if not self.use_graphs:
            inputs = {key: torch.from_numpy(value).to(self.device).unsqueeze(0) for key, value in features.items()}
            self._outputs[group], self.states[group] = _forward(self.network, inputs, self.states[group],
                                                                self.autocast)
            return
        log_probs = self.graphs[group].replay(features)
        out = self._outputs[group]
        if out is None:
            out = self._outputs[group] = torch.empty(log_probs.shape, dtype=torch.float32, pin_memory=True)
        out.copy_(log_probs, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self._done[group] = event

    def collect(self, group: int) -> tuple[np.ndarray, np.ndarray]:
        """(actions int64 [n], their log-probabilities float32 [n]) of the pass `launch` started for `group`."""
        if self._done[group] is not None:
            waited = time.perf_counter()
            self._done[group].synchronize()
            self.wait_seconds += time.perf_counter() - waited
            self._done[group] = None
        log_probs = self._outputs[group].cpu().numpy()
        gumbel = -np.log(-np.log(self.rng.random(log_probs.shape)))
        actions = np.argmax(log_probs + gumbel, axis=1)
        chosen = log_probs[np.arange(len(actions)), actions]
        return actions.astype(np.int64), chosen.astype(np.float32)

    @torch.no_grad()
    def reset(self, group: int, dones: np.ndarray) -> None:
        """Zero the recurrent state (the network's initial state) of the envs of `group` whose episode ended."""
        if dones.any():
            rows = torch.from_numpy(np.flatnonzero(dones)).to(self.device)
            self._state(group).index_fill_(self.batch_dim, rows, 0.0)
