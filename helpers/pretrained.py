"""GPT-2's weights in the course's GPT (episode 07, section 1 "the same architecture as GPT-2").

The course's ``GPT`` with learned positions, biases, a tied head, LayerNorm eps 1e-5
(PyTorch's default) and the tanh approximation of GELU is GPT-2's architecture. Only
the names differ, and one layout: GPT-2's ``Conv1D`` layers store their weight as
(in, out), ready for ``x @ W``, where ``nn.Linear`` stores (out, in); those are
transposed on load. ``GPT2_NAMES`` is the whole correspondence, one row per tensor.

``transformers`` is optional (``pip install -e '.[pretrained]'``): this module
imports it only inside ``load_gpt2_from_hub``, so the converter works on any
state dict, and its tests skip without the package.
"""

import os
import re
import socket
import threading
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import torch

from helpers.gpt import GPT, GPTConfig

# (course name, GPT-2 name, how the tensor moves). "{i}" is the block's index.
# "transpose": a Conv1D weight, (in, out) in GPT-2, (out, in) in nn.Linear.
GPT2_NAMES: tuple[tuple[str, str, str], ...] = (
    ("tok_emb.weight", "transformer.wte.weight", "copy"),
    ("pos_emb.table.weight", "transformer.wpe.weight", "copy"),
    ("blocks.{i}.ln1.weight", "transformer.h.{i}.ln_1.weight", "copy"),
    ("blocks.{i}.ln1.bias", "transformer.h.{i}.ln_1.bias", "copy"),
    ("blocks.{i}.attn.qkv.weight", "transformer.h.{i}.attn.c_attn.weight", "transpose"),
    ("blocks.{i}.attn.qkv.bias", "transformer.h.{i}.attn.c_attn.bias", "copy"),
    ("blocks.{i}.attn.out.weight", "transformer.h.{i}.attn.c_proj.weight", "transpose"),
    ("blocks.{i}.attn.out.bias", "transformer.h.{i}.attn.c_proj.bias", "copy"),
    ("blocks.{i}.ln2.weight", "transformer.h.{i}.ln_2.weight", "copy"),
    ("blocks.{i}.ln2.bias", "transformer.h.{i}.ln_2.bias", "copy"),
    ("blocks.{i}.ffn.up.weight", "transformer.h.{i}.mlp.c_fc.weight", "transpose"),
    ("blocks.{i}.ffn.up.bias", "transformer.h.{i}.mlp.c_fc.bias", "copy"),
    ("blocks.{i}.ffn.down.weight", "transformer.h.{i}.mlp.c_proj.weight", "transpose"),
    ("blocks.{i}.ffn.down.bias", "transformer.h.{i}.mlp.c_proj.bias", "copy"),
    ("ln_f.weight", "transformer.ln_f.weight", "copy"),
    ("ln_f.bias", "transformer.ln_f.bias", "copy"),
    ("lm_head.weight", "lm_head.weight", "tied to wte"),
)

# Some transformers versions keep the causal mask of every block in its state dict
# ("transformer.h.{i}.attn.bias", a (1, 1, n_positions, n_positions) triangle of ones)
# and a constant used to fill masked scores ("attn.masked_bias"). They are not weights:
# the course builds its mask on the fly, so the loader skips them on purpose.
GPT2_IGNORED = re.compile(r"transformer\.h\.\d+\.attn\.(bias|masked_bias)")


class GPT2UnavailableError(RuntimeError):
    """GPT-2 could not be fetched: no network and no cached copy, or no ``transformers``."""


def gpt2_names_table() -> str:
    """``GPT2_NAMES`` as an aligned text table (course name, GPT-2 name, how it moves)."""
    rows = [("course GPT", "Hugging Face GPT2LMHeadModel", "on load"), *GPT2_NAMES]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def gpt2_small_config() -> GPTConfig:
    """The course ``GPTConfig`` of GPT-2 small (124,439,808 parameters)."""
    return GPTConfig(
        vocab_size=50257,
        block_size=1024,
        n_layer=12,
        n_head=12,
        n_embd=768,
        dropout=0.0,
        bias=True,
        position="learned",
        gelu="tanh",
    )


def _fail(problem: str) -> None:
    raise ValueError(f"not a GPT-2 state dict: {problem}")


def _first(names: list[str]) -> str:
    more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
    return f"{names[0]}{more}"


def _config_from_state_dict(state_dict: Mapping[str, torch.Tensor], n_head: int) -> GPTConfig:
    """Read vocab, width, context length and depth off the tensors' shapes."""
    for name in ("transformer.wte.weight", "transformer.wpe.weight"):
        if name not in state_dict:
            _fail(f"missing tensor {name}")
        if not isinstance(state_dict[name], torch.Tensor):
            _fail(f"{name} is a {type(state_dict[name]).__name__}, not a tensor")
        if state_dict[name].dim() != 2:
            _fail(f"{name} should be 2-D, got shape {tuple(state_dict[name].shape)}")
    vocab_size, n_embd = state_dict["transformer.wte.weight"].shape
    block_size = state_dict["transformer.wpe.weight"].shape[0]
    blocks = {int(m.group(1)) for k in state_dict if (m := re.match(r"transformer\.h\.(\d+)\.", k))}
    if not blocks:
        _fail("no blocks (no tensor named transformer.h.0.*)")
    n_layer = max(blocks) + 1
    gaps = sorted(set(range(n_layer)) - blocks)
    if gaps:
        _fail(f"missing every tensor of block transformer.h.{gaps[0]} (blocks 0..{n_layer - 1})")
    if not isinstance(n_head, int) or isinstance(n_head, bool) or n_head < 1:
        _fail(f"n_head must be a positive int, got {n_head!r}")
    if n_embd % n_head != 0:
        _fail(f"n_head {n_head} does not divide the width n_embd {n_embd} (from wte)")
    return GPTConfig(
        vocab_size=vocab_size,
        block_size=block_size,
        n_layer=n_layer,
        n_head=n_head,
        n_embd=n_embd,
        dropout=0.0,
        bias=True,
        position="learned",
        gelu="tanh",
    )


def gpt_from_gpt2_state_dict(state_dict: Mapping[str, torch.Tensor], n_head: int) -> GPT:
    """A course ``GPT`` (float32, eval mode) holding the weights of a ``GPT2LMHeadModel``.

    state_dict: ``GPT2LMHeadModel(...).state_dict()``. n_head: the number of heads,
    which no tensor's shape records (12 for GPT-2 small). Anything that does not fit
    (a missing or extra tensor, a wrong shape, an untied head, an n_head that does
    not divide the width) is a one-line ValueError naming it.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to tensors, got {type(state_dict)}")
    config = _config_from_state_dict(state_dict, n_head)
    with torch.device("meta"):  # shapes only: check everything before building for real
        shapes = {k: tuple(v.shape) for k, v in GPT(config).state_dict().items()}

    # every GPT-2 name the course expects, with its course name and its move
    expected: dict[str, tuple[str, str]] = {}
    for course, gpt2, how in GPT2_NAMES:
        layers = range(config.n_layer) if "{i}" in course else [None]
        for i in layers:
            expected[gpt2.format(i=i)] = (course.format(i=i), how)

    missing = [k for k in expected if k not in state_dict]
    if missing:
        _fail(f"missing tensor {_first(missing)}")
    extra = [k for k in state_dict if k not in expected and not GPT2_IGNORED.fullmatch(k)]
    if extra:
        _fail(f"unexpected tensor {_first(extra)}")
    for gpt2, (course, how) in expected.items():
        tensor = state_dict[gpt2]
        if not isinstance(tensor, torch.Tensor):
            _fail(f"{gpt2} is a {type(tensor).__name__}, not a tensor")
        # GPT-2's Conv1D weight is (in, out): its transpose is nn.Linear's (out, in)
        want = shapes[course][::-1] if how == "transpose" else shapes[course]
        if tuple(tensor.shape) != want:
            _fail(f"{gpt2} has shape {tuple(tensor.shape)}, expected {want}")
    if not torch.equal(state_dict["lm_head.weight"], state_dict["transformer.wte.weight"]):
        _fail("lm_head.weight differs from transformer.wte.weight (the head is tied)")

    model = GPT(config)
    ours = model.state_dict()
    with torch.no_grad():
        for gpt2, (course, how) in expected.items():
            if how == "tied to wte":
                continue  # the course's head is the same Parameter as tok_emb
            source = state_dict[gpt2].t() if how == "transpose" else state_dict[gpt2]
            ours[course].copy_(source.to(device="cpu", dtype=torch.float32))
    return model.eval()


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hugging Face Hub opens within ``timeout`` seconds.

    The probe runs in a thread, so a resolver that hangs cannot hold the notebook up.
    Behind a proxy (HTTPS_PROXY set) a direct connection says nothing: assume online.
    """
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    if os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy"):
        return True
    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    opened = []

    def probe() -> None:
        try:
            socket.create_connection((url.hostname, port), timeout=timeout).close()
            opened.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(opened)


def default_cache_dir() -> Path:
    """Where downloads go: ``runs/huggingface`` in the repository (the course writes only there)."""
    return Path(__file__).resolve().parents[1] / "runs" / "huggingface"


def load_gpt2_from_hub(name: str = "gpt2", cache_dir: str | os.PathLike | None = None):
    """Download (or read from cache) a GPT-2: (course GPT, Hugging Face model, tokenizer).

    name: a hub name ("gpt2", "gpt2-medium", ...) or a folder written by ``save_pretrained``.

    Without a network the cached copy is used when there is one; otherwise this raises
    ``GPT2UnavailableError`` with a one-line reason within seconds: it decides before
    importing ``transformers`` (itself many seconds) and never waits on retries.
    Downloads go to ``cache_dir`` (default ``runs/huggingface``), never to ``$HOME``.
    """
    install = "pip install -e '.[pretrained]'"
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError as e:
        raise GPT2UnavailableError(f"{e.name} is not installed: {install}") from None
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    local = Path(name).is_dir()  # a folder written by save_pretrained: no hub needed
    online = not local and _hub_reachable()
    if (
        not online
        and not local
        and not isinstance(try_to_load_from_cache(name, "config.json", cache_dir=cache_dir), str)
    ):
        raise GPT2UnavailableError(
            f"no network and no cached copy of {name!r} in {cache_dir}: skipping GPT-2"
        )
    try:
        from transformers import AutoTokenizer, GPT2LMHeadModel
    except ImportError as e:
        raise GPT2UnavailableError(f"{e.name} is not installed: {install}") from None
    try:
        hf_model = GPT2LMHeadModel.from_pretrained(
            name, cache_dir=cache_dir, local_files_only=not online
        )
        tokenizer = AutoTokenizer.from_pretrained(
            name, cache_dir=cache_dir, local_files_only=not online
        )
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GPT2UnavailableError(f"could not load {name!r}: {first}") from None
    hf_model.eval()
    model = gpt_from_gpt2_state_dict(hf_model.state_dict(), hf_model.config.n_head)
    return model, hf_model, tokenizer
