"""X-Dancer's cross-conditional music-to-pose-token GPT (arXiv 2502.17414, §3.2).

A nanoGPT-style causal decoder over per-frame token groups. Every frame is
``num_parts x tokens_per_part`` tokens (upper body, lower body, head, left hand, right
hand, 6 each), so a window of N frames is N x 30 tokens, causal within and across frames.

The sequence the transformer reads::

    [music context (M)] [motion context (C x 30)] [BOS] [x_0 ... x_{N*30-2}]

* music context (a): M "start" tokens pooled from the whole window's music features;
* motion context (c): the tokens of C = 8 frames sampled from the previous segment
  (absent for a first segment);
* the motion stream is shifted by one (BOS first), so the output at stream position j
  predicts token x_j. The input at j carries the previous token (with its part's
  vocabulary offset), the slot (part, token) and frame of x_j, and (b) the projected
  music features of x_j's frame, added to the embedding.

Positions are learned per role (music slot, context frame, window frame, slot in the
frame) instead of one absolute table, so a missing context does not shift the motion.
Each part has its own output head over its codebook. ``generate`` samples with
temperature / top-k / top-p from a ``torch.Generator``, forces any tokens it is given
(overlap frames, kept keyframes, locked parts), and keeps earlier keys and values in a KV cache.

The cache is static: fixed-size buffers written at a position tensor and read whole under a
causal mask, so a one-token step (``decode_step``) has the same shapes at every position and
can be replayed as one CUDA graph per token (``generate(..., compile=True)``) instead of
dozens of kernels launched one by one from Python. The prefix and runs of given tokens go
through in chunks (prefill).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class MotionGPTConfig:
    codebook_size: int = 512          # vocabulary of every part (the tokenizer's codebook size)
    num_parts: int = 5
    tokens_per_part: int = 6
    music_dim: int = 35               # EDGE librosa features; Jukebox-based features are wider
    n_layer: int = 6
    n_head: int = 8
    n_embd: int = 256
    block_frames: int = 64            # frames per training window (the paper's 64-frame segments)
    num_music_context_tokens: int = 8
    motion_context_frames: int = 8
    dropout: float = 0.1

    @property
    def tokens_per_frame(self) -> int:
        return self.num_parts * self.tokens_per_part

    @property
    def block_size(self) -> int:
        """Longest token sequence the model reads: music context + motion context + BOS + window."""
        return (self.num_music_context_tokens + self.motion_context_frames * self.tokens_per_frame
                + self.block_frames * self.tokens_per_frame)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: MotionGPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, cache: "KVCache | None" = None, layer: int = 0,
                positions: torch.Tensor | None = None, stop: int | None = None) -> torch.Tensor:
        """x (B, L, C) -> (B, L, C).

        With ``cache``, x sits at the absolute sequence ``positions`` (L,) long: its keys and values are
        written there, and each query attends to the cached keys at positions up to its own. ``stop``: see
        ``KVCache.update``.
        """
        B, L, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, L, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, L, hs)
        dropout = self.dropout if self.training else 0.0
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        else:
            k, v, key_positions = cache.update(layer, k, v, positions, stop)                        # (B, nh, S, hs)
            # causal over absolute positions; the slots not written yet lie after every query, so they drop out too.
            # A single query reading only up to itself sees every key read: no mask, the faster kernel on a CPU.
            mask = None if stop is not None and L == 1 else key_positions <= positions[:, None]     # (L, S)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(B, L, C)))


class KVCache:
    """Keys and values of every layer at sequence positions 0 .. max_length-1, in buffers allocated once.

    Writes go to a position *tensor* (``index_copy_``), so no write changes a shape. A read returns either
    the whole buffers (``stop=None``: the same shapes at every step, which CUDA graphs need; the causal
    mask hides the slots not written yet) or the first ``stop`` positions (fewer keys, a new shape every
    step: cheaper in eager mode). The buffers start at zero because a masked slot holding NaN (what
    ``torch.empty`` may return) would still poison the attention output (0 x NaN).
    """

    def __init__(self, config: "MotionGPTConfig", batch: int, max_length: int, device, dtype):
        shape = (config.n_layer, batch, config.n_head, max_length, config.n_embd // config.n_head)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        self.positions = torch.arange(max_length, device=device)

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor, positions: torch.Tensor,
               stop: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Store k, v (B, nh, L, hs) of ``layer`` at ``positions`` (L,) long.

        stop    : one past the last of ``positions`` (all earlier positions written), to read only the
                  written prefix; None reads the whole buffers.
        returns : keys, values (B, nh, S, hs) and their positions (S,), S = stop or max_length.
        """
        keys, values = self.keys[layer], self.values[layer]
        keys.index_copy_(2, positions, k)
        values.index_copy_(2, positions, v)
        return keys[:, :, :stop], values[:, :, :stop], self.positions[:stop]


class MLP(nn.Module):
    def __init__(self, config: MotionGPTConfig):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, config: MotionGPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0,
                positions: torch.Tensor | None = None, stop: int | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer, positions, stop)
        return x + self.mlp(self.ln_2(x))


class MotionGPT(nn.Module):
    """Music- and context-conditioned autoregressive model of pose tokens; see the module docstring."""

    # devices where generate(..., compile=True) compiles the decode step: CUDA graphs are CUDA-only, and on a
    # CPU the inductor compile (tens of seconds) would not pay back within a dance
    COMPILE_DEVICES = ("cuda",)

    def __init__(self, config: MotionGPTConfig):
        super().__init__()
        self.config = config
        V, S, E = config.codebook_size, config.tokens_per_frame, config.n_embd
        # 1. embeddings: tokens of all parts in one table (part p's code k at p * V + k), BOS last
        self.tok_emb = nn.Embedding(config.num_parts * V + 1, E)
        self.slot_emb = nn.Embedding(S, E)
        self.frame_emb = nn.Embedding(config.block_frames, E)
        self.context_frame_emb = nn.Embedding(config.motion_context_frames, E)
        self.music_context_emb = nn.Embedding(config.num_music_context_tokens, E)
        self.type_emb = nn.Embedding(3, E)  # 0 music context, 1 motion context, 2 motion stream
        # 2. music conditioning: global start tokens (a) and per-frame features (b)
        self.music_context = nn.Sequential(nn.Linear(2 * config.music_dim, E), nn.GELU(), nn.Linear(E, E))
        self.music_frame = nn.Linear(config.music_dim, E)
        # 3. transformer and one output head per part
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(E)
        self.head = nn.Linear(E, config.num_parts * V, bias=False)
        self.apply(self._init_weights)
        # GPT-2: residual projections scaled by 1/sqrt(2 * n_layer)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") and "blocks" in name:
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
        self.register_buffer("slot_part", torch.arange(S) // config.tokens_per_part, persistent=False)
        # generate(..., compile=True) on CUDA: the compiled decode_step and one (cache, step) per batch and dtype
        self._compiled_step = None
        self._decoders: dict = {}

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    # ---- embeddings -------------------------------------------------------------------------------------
    def embed_prefix(self, music: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """music (B, N, music_dim), context (B, C, 30) long or None -> prefix embeddings (B, M + C*30, E)."""
        c = self.config
        B, N, _ = music.shape
        M = c.num_music_context_tokens
        # global music context: mean and std over M equal stretches of the window
        bounds = torch.linspace(0, N, M + 1).round().long().tolist()
        pooled = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            chunk = music[:, a:max(b, a + 1)] if a < N else music[:, -1:]
            pooled.append(torch.cat([chunk.mean(1), chunk.std(1, unbiased=False)], -1))
        parts = [self.music_context(torch.stack(pooled, 1)) + self.music_context_emb.weight + self.type_emb.weight[0]]
        if context is not None:
            C = context.shape[1]
            if C > c.motion_context_frames:
                raise ValueError(f"context has {C} frames, the model takes at most {c.motion_context_frames}.")
            ids = (context + self.slot_part * c.codebook_size).flatten(1)                # (B, C*30)
            slots = torch.arange(c.tokens_per_frame, device=music.device).repeat(C)
            frames = torch.arange(C, device=music.device).repeat_interleave(c.tokens_per_frame)
            parts.append(self.tok_emb(ids) + self.slot_emb(slots) + self.context_frame_emb(frames) + self.type_emb.weight[1])
        return torch.cat(parts, 1)

    def stream_position_embedding(self, music: torch.Tensor) -> torch.Tensor:
        """What the input at every stream position j of an N-frame window carries besides the previous token:
        x_j's slot and frame, and the music of x_j's frame. music (B, N, music_dim) -> (B, N * 30, E)."""
        c = self.config
        B, N, _ = music.shape
        if N > c.block_frames:
            raise ValueError(f"a window holds at most {c.block_frames} frames, got {N}.")
        S = c.tokens_per_frame
        per_frame = self.frame_emb.weight[:N] + self.music_frame(music) + self.type_emb.weight[2]   # (B, N, E)
        return (per_frame[:, :, None] + self.slot_emb.weight[None, None]).reshape(B, N * S, -1)

    def stream_token_ids(self, tokens: torch.Tensor, start: int) -> torch.Tensor:
        """Embedding-table ids of the inputs at stream positions start .. start + L - 1.

        tokens (B, L) long: the token *before* each position (x_{j-1}, part-local); position 0 is BOS.
        """
        c = self.config
        positions = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        previous_part = self.slot_part[(positions - 1) % c.tokens_per_frame]
        ids = tokens + previous_part * c.codebook_size
        if start == 0:
            ids[:, 0] = c.num_parts * c.codebook_size
        return ids

    def _run(self, x: torch.Tensor, cache: KVCache | None = None, positions: torch.Tensor | None = None,
             stop: int | None = None) -> torch.Tensor:
        """x (B, L, E) at sequence ``positions`` (L,) (with a cache) -> final hidden states (B, L, E)."""
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i, positions, stop)
        return self.ln_f(x)

    def decode_step(self, x: torch.Tensor, position: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """One input through the network against the whole cache: the same shapes at every position.

        The unit a CUDA graph captures (``generate(..., compile=True)``): the position is a tensor and the
        whole cache is read under a mask, so nothing about the call changes from one token to the next.
        x (B, 1, E) input embedding, position (1,) long its sequence position -> (B, E) the final hidden
        state, which predicts the next token.
        """
        return self._run(x, cache, position)[:, -1]

    def _part_logits(self, h: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """h (B, L, E) at stream positions (L,) -> logits (B, L, V) of each position's part."""
        c = self.config
        logits = self.head(h).view(h.shape[0], h.shape[1], c.num_parts, c.codebook_size)
        part = self.slot_part[positions % c.tokens_per_frame]
        return logits[:, torch.arange(h.shape[1], device=h.device), part]

    # ---- training ---------------------------------------------------------------------------------------
    def forward(self, idx: torch.Tensor, music: torch.Tensor, context: torch.Tensor | None = None,
                targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Next-token logits for every token of a window.

        idx     : (B, N, 30) long, the window's tokens (part-local indices 0 .. codebook_size-1), N <= block_frames.
        music   : (B, N, music_dim) float, per-frame music features (normalised).
        context : (B, C, 30) long tokens of C <= motion_context_frames frames of the previous segment, or None.
        targets : (B, N, 30) long or None; usually ``idx``; -1 marks tokens left out of the loss.
        returns : logits (B, N, 30, codebook_size) where [:, t, s] predicts idx[:, t, s] from everything
                  before it; loss () mean cross-entropy, or None without targets.
        """
        B, N, S = idx.shape
        if S != self.config.tokens_per_frame or music.shape[:2] != (B, N):
            raise ValueError(f"idx must be (B, N, {self.config.tokens_per_frame}) and music (B, N, "
                             f"{self.config.music_dim}); got {tuple(idx.shape)} and {tuple(music.shape)}.")
        flat = idx.flatten(1)
        previous = torch.cat([flat.new_zeros(B, 1), flat[:, :-1]], 1)
        prefix = self.embed_prefix(music, context)
        stream = self.tok_emb(self.stream_token_ids(previous, 0)) + self.stream_position_embedding(music)
        h = self._run(torch.cat([prefix, stream], 1))[:, prefix.shape[1]:]
        logits = self._part_logits(h, torch.arange(N * S, device=idx.device)).view(B, N, S, -1)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 2), targets.flatten(), ignore_index=-1)
        return logits, loss

    # ---- sampling ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, music: torch.Tensor, context: torch.Tensor | None = None, forced: torch.Tensor | None = None,
                 temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                 generator: torch.Generator | None = None, cache: str = "auto",
                 compile: bool = False) -> torch.Tensor:
        """Sample a window of tokens, frame by frame and part by part.

        music     : (B, N, music_dim) float; N frames are generated (N <= block_frames).
        context   : (B, C, 30) long motion context from the previous segment, or None.
        forced    : (B, N, 30) long; entries >= 0 are taken as given (overlap, keyframes, locked parts),
                    -1 entries are sampled.
        temperature, top_k, top_p : see ``sample_logits``; temperature 0 picks the most likely token.
        generator : torch.Generator for reproducible draws (one draw per sampled position).
        cache     : how earlier positions are kept; every choice gives the same tokens up to float rounding.
                    "static": a KV cache read whole at every one-token step (``decode_step``: fixed shapes);
                    "dynamic": a KV cache read up to the current position (a new shape every step; fewer
                    keys, about 10 % faster than static on a CPU);
                    "none": the whole sequence is recomputed at every position (quadratically slower);
                    "auto": static on CUDA or with ``compile``, dynamic otherwise.
                    The prefix and every run of two or more given tokens go through in one chunk.
        compile   : on CUDA with the static cache, run ``decode_step`` as a CUDA graph
                    (``torch.compile(mode="reduce-overhead", fullgraph=True)``), compiled on first use and
                    kept with the model, with one cache per batch size and dtype; the first call compiles
                    (tens of seconds). Ignored on other devices (the eager static path runs).
        returns   : (B, N, 30) long tokens.
        """
        if cache not in ("auto", "static", "dynamic", "none"):
            raise ValueError(f"cache must be 'auto', 'static', 'dynamic' or 'none', got {cache!r}.")
        if cache == "auto":
            cache = "static" if compile or music.device.type == "cuda" else "dynamic"
        if compile and cache != "static":
            raise ValueError(f"compile=True needs cache='static' (fixed shapes to capture), got cache={cache!r}.")
        c = self.config
        music = music.to(self.tok_emb.weight.dtype)      # features arrive as float32; a half model computes in half
        B, N, _ = music.shape
        S, V = c.tokens_per_frame, c.codebook_size
        L = N * S
        if forced is None:
            forced = torch.full((B, N, S), -1, dtype=torch.long, device=music.device)
        forced = forced.flatten(1)
        given = (forced >= 0).all(0).tolist()            # positions given for every batch row
        out = forced.clone()
        prefix = self.embed_prefix(music, context)
        static = self.stream_position_embedding(music)   # (B, L, E)
        P = prefix.shape[1]                              # stream input j sits at sequence position P + j
        kv, step = None, self.decode_step
        if compile and music.device.type in self.COMPILE_DEVICES:
            kv, step = self._compiled_decoder(B, music.device, prefix.dtype)
        elif cache != "none":
            kv = KVCache(c, B, P + L, music.device, prefix.dtype)
        sequence_positions = torch.arange(P + L, device=music.device)

        def last_hidden(x: torch.Tensor, start: int) -> torch.Tensor:
            """Final hidden state (B, E) of the last input of x (B, n, E), inputs at sequence positions start ..."""
            end = start + x.shape[1]
            if kv is None:                               # recompute the whole sequence up to the last input
                previous = torch.cat([out[:, :1].clamp_min(0), out[:, :end - P - 1]], 1)
                stream = self.tok_emb(self.stream_token_ids(previous, 0)) + static[:, :end - P]
                return self._run(torch.cat([prefix, stream], 1))[:, -1]
            if cache == "static" and x.shape[1] == 1:
                return step(x, sequence_positions[start:end], kv)
            return self._run(x, kv, sequence_positions[start:end], stop=end)[:, -1]

        bos = self.tok_emb(self.stream_token_ids(out[:, :1].clamp_min(0), 0)) + static[:, :1]
        h_last = last_hidden(torch.cat([prefix, bos], 1), 0)
        j = 0
        while j < L:
            k = j + 1
            if given[j]:
                while k < L and given[k]:                # a run of given tokens goes through in one chunk
                    k += 1
            else:
                part = j % S // c.tokens_per_part
                logits = F.linear(h_last, self.head.weight[part * V:(part + 1) * V])
                choice = sample_logits(logits, temperature, top_k, top_p, generator)
                out[:, j] = torch.where(forced[:, j] >= 0, forced[:, j], choice)
            if k < L:
                # stream inputs j+1 .. k carry tokens j .. k-1; the last one's output predicts token k
                x = self.tok_emb(self.stream_token_ids(out[:, j:k], j + 1)) + static[:, j + 1:k + 1]
                h_last = last_hidden(x, P + j + 1)
            j = k
        return out.view(B, N, S)

    def _compiled_decoder(self, batch: int, device: torch.device,
                          dtype: torch.dtype) -> tuple[KVCache, Callable[..., torch.Tensor]]:
        """(cache, step): ``decode_step`` under CUDA graphs and a cache for whole windows, made once per model.

        One cache per (batch, device, dtype) holds ``block_size`` positions, so every window reuses the same
        buffers (CUDA graphs replay fixed addresses; stale slots are masked by position). The step's
        output is copied because the next replay overwrites the graph's output buffer. Not for two
        threads sampling with one model at once (they would share the cache).
        """
        key = (batch, str(device), dtype)
        if key not in self._decoders:
            kv = KVCache(self.config, batch, self.config.block_size, device, dtype)
            for buffer in (kv.keys, kv.values, kv.positions):   # graph inputs that keep their address
                torch._dynamo.mark_static_address(buffer)
            if self._compiled_step is None:
                self._compiled_step = torch.compile(self.decode_step, mode="reduce-overhead", fullgraph=True)
            compiled = self._compiled_step

            def step(x: torch.Tensor, position: torch.Tensor, cache: KVCache) -> torch.Tensor:
                torch.compiler.cudagraph_mark_step_begin()
                return compiled(x, position.clone(), cache).clone()

            self._decoders[key] = (kv, step)
        return self._decoders[key]


def sample_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row of logits (B, V): temperature, then top-k, then nucleus (top-p) filtering.

    top_k  : keep the k most likely tokens (None or 0: all).
    top_p  : keep the smallest set of most likely tokens whose probability reaches p (None or >= 1: all).
    temperature <= 0 returns the argmax. returns (B,) long.
    """
    if temperature <= 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        # drop a token when the tokens ranked above it already reach p (the top token always stays)
        drop_sorted = (cumulative - sorted_logits.softmax(-1)) >= top_p
        logits = logits.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), float("-inf"))
    # inverse-CDF draw, one uniform number per row from ``generator``; u in (0, total] never picks a
    # zero-probability token
    cdf = logits.softmax(-1).cumsum(-1)
    u = (1.0 - torch.rand(logits.shape[0], 1, generator=generator, device=logits.device)) * cdf[:, -1:]
    return (cdf < u).sum(-1).clamp_max(logits.shape[-1] - 1)
