"""Drawing the computational graph the engine recorded (matplotlib only, no graphviz)."""
from __future__ import annotations

from .style import GATE_COLORS


def graph_nodes(tensors):
    """The graph recorded behind ``tensors``: its Function nodes and its leaf tensors.

    Walks ``tensor.creator`` and ``function.inputs`` with an explicit stack (no recursion).

    Args:
        tensors: a Tensor or a sequence of Tensors (the outputs).
    Returns:
        ``(functions, leaves)``: the Function nodes in topological order (inputs before
        users) and the leaf tensors (``creator is None``) feeding them, in discovery order.
    Raises:
        ValueError: if a node was freed by ``backward()`` (draw before backward, or pass
            ``retain_graph=True``).
    """
    roots = _as_tensor_list(tensors)
    order, leaves, seen_fn, seen_leaf = [], [], set(), set()
    stack = []
    for r in reversed(roots):
        if r.creator is None:
            if id(r) not in seen_leaf:
                seen_leaf.add(id(r))
                leaves.append(r)
        else:
            stack.append((r.creator, False))
    while stack:
        fn, expanded = stack.pop()
        if expanded:
            order.append(fn)
            continue
        if id(fn) in seen_fn:
            continue
        if getattr(fn, "inputs", None) is None:
            raise ValueError(
                f"draw_graph: node {type(fn).__name__} was freed by backward(); draw the graph "
                "before calling backward(), or call backward(retain_graph=True)")
        seen_fn.add(id(fn))
        stack.append((fn, True))
        for t in reversed(fn.inputs):
            if t.creator is None:
                if id(t) not in seen_leaf:
                    seen_leaf.add(id(t))
                    leaves.append(t)
            elif id(t.creator) not in seen_fn:
                stack.append((t.creator, False))
    return order, leaves


def _as_tensor_list(tensors):
    from ..autograd import Tensor

    if isinstance(tensors, Tensor):
        return [tensors]
    tensors = list(tensors)
    if not tensors or not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError("draw_graph: expected a Tensor or a non-empty sequence of Tensors, got "
                        + ", ".join(type(t).__name__ for t in tensors))
    return tensors


def _gate_of(label):
    """'f_t' or '$f_t$' -> 'f': the symbol before '_' when it is a gate of GATE_COLORS."""
    if not label:
        return None
    symbol = label.strip("$").lstrip("\\").split("_")[0]
    return symbol if symbol in GATE_COLORS and symbol != "x" else None


def _leaf_text(t, label):
    if label:
        return label
    if t.numel() == 1:                  # a constant such as the 1 in 1 - y
        return f"{t.item():g}"
    return "×".join(str(s) for s in t.shape) or "()"


def _order_layers(layers, preds, succs, sweeps=6):
    """Reorder nodes inside each layer by the mean position of their neighbours
    (the barycentre heuristic), which removes most edge crossings of small graphs."""
    pos = {n: k for layer in layers for k, n in enumerate(layer)}
    for sweep in range(sweeps):
        down = sweep % 2 == 0
        seq = range(1, len(layers)) if down else range(len(layers) - 2, -1, -1)
        for li in seq:
            nbrs = preds if down else succs

            def key(n, nbrs=nbrs):
                ps = [pos[p] for p in nbrs.get(n, ()) if p in pos]
                return (sum(ps) / len(ps)) if ps else pos[n]

            layers[li].sort(key=key)
            for k, n in enumerate(layers[li]):
                pos[n] = k
    return layers


def draw_graph(tensors, ax=None, labels=None, direction="TB", fontsize=9):
    """Draw the graph that the engine recorded behind ``tensors`` (matplotlib only).

    Function nodes are boxes labelled with the op's class name; leaf tensors are ellipses
    labelled with ``labels[t]``, else ``t.name``, else their value (one-element constants)
    or shape. The outputs are drawn as ellipses below their ops. Nodes are placed in layers
    by topological depth, edges point from an input to its user, and an edge that skips
    layers is routed through the layers in between.

    A box is coloured with ``GATE_COLORS`` when its output tensor is labelled with a gate
    symbol: ``labels={f_t: "f_t"}`` (or ``f_t.name = "f_t"``) colours the Sigmoid node that
    made ``f_t`` in the forget gate's colour, and writes ``f_t`` under the op name.

    Args:
        tensors: a Tensor or a sequence of Tensors whose graph to draw (before backward()).
        ax: a matplotlib Axes; a new figure sized to the graph when None.
        labels: optional ``{tensor: text}`` (or ``(tensor, text)`` pairs) for leaves,
            intermediate values and outputs; mathtext such as ``"$h_{t-1}$"`` works.
        direction: "TB" (inputs at the top) or "LR" (inputs at the left).
        fontsize: font size of node labels, in points.
    Returns:
        The Axes. Each op box is a patch with gid ``"op:<Name>"``, each leaf
        ``"leaf:<text>"`` and each output ``"output:<text>"`` (handy for tests).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse, FancyBboxPatch

    if direction not in ("TB", "LR"):
        raise ValueError(f"draw_graph: direction must be 'TB' or 'LR', got {direction!r}")
    roots = _as_tensor_list(tensors)
    functions, leaves = graph_nodes(roots)
    names, labelled = {}, []        # by id(): a Tensor's == is element-wise, not identity
    if labels is not None:
        for t, text in (labels.items() if hasattr(labels, "items") else labels):
            names[id(t)] = str(text)
            labelled.append(t)

    def label_of(t):
        return names.get(id(t)) or t.name

    # -- nodes and edges. A node is a hashable key: ("fn", id), ("leaf", id), ("out", k).
    fn_key = {id(fn): ("fn", id(fn)) for fn in functions}
    depth = {}
    edges = []
    for fn in functions:
        d = 1
        for t in fn.inputs:
            if t.creator is not None:
                d = max(d, depth[fn_key[id(t.creator)]] + 1)
        depth[fn_key[id(fn)]] = d
    consumers = {}
    for fn in functions:
        for t in fn.inputs:
            src = ("leaf", id(t)) if t.creator is None else fn_key[id(t.creator)]
            edges.append((src, fn_key[id(fn)]))
            if t.creator is None:
                consumers.setdefault(id(t), []).append(depth[fn_key[id(fn)]])
    for t in leaves:                    # a leaf sits right above its first user
        depth[("leaf", id(t))] = min(consumers.get(id(t), [1])) - 1
    # outputs are drawn as their own nodes (a leaf output is already drawn as a leaf)
    out_text = {}
    for k, r in enumerate(roots):
        if r.creator is None:
            continue
        key = ("out", k)
        depth[key] = depth[fn_key[id(r.creator)]] + 1
        edges.append((fn_key[id(r.creator)], key))
        out_text[key] = label_of(r) or (f"out{k}" if len(roots) > 1 else "out")

    # -- split edges that skip layers with invisible waypoints
    chains, n_dummy = [], 0
    for src, dst in dict.fromkeys(edges):       # one drawn edge per (src, dst) pair
        path = [src]
        for d in range(depth[src] + 1, depth[dst]):
            dummy = ("dummy", n_dummy)
            n_dummy += 1
            depth[dummy] = d
            path.append(dummy)
        path.append(dst)
        chains.append(path)
    preds, succs = {}, {}
    for path in chains:
        for a, b in zip(path, path[1:]):
            preds.setdefault(b, []).append(a)
            succs.setdefault(a, []).append(b)
    n_layers = max(depth.values()) + 1
    layers = [[] for _ in range(n_layers)]
    for node, d in depth.items():               # insertion order: discovery order
        layers[d].append(node)
    layers = _order_layers(layers, preds, succs)

    # -- geometry, in inch-like data units: column pitch 1.05, layer pitch 0.62
    width = max(len(layer) for layer in layers)
    pitch_x, pitch_y = 1.05, 0.62
    across = _place_across(layers, preds, succs, pitch_x)
    xy = {}
    for d, layer in enumerate(layers):
        for node in layer:
            a, along = across[node], d * pitch_y
            xy[node] = (a, -along) if direction == "TB" else (along * 1.6, -a * 0.62)
    width = (max(across.values()) - min(across.values())) / pitch_x + 1
    if ax is None:
        if direction == "TB":
            size = (max(3.0, width * pitch_x + 0.3), max(1.2, n_layers * pitch_y + 0.2))
        else:
            size = (max(3.0, n_layers * pitch_y * 1.6 + 0.6),
                    max(1.2, width * 0.62 * pitch_x + 0.3))
        _, ax = plt.subplots(figsize=size, layout="constrained")

    box_w, box_h = 0.9, 0.34
    fn_of = {fn_key[id(fn)]: fn for fn in functions}
    # op node -> label of a tensor it made. Intermediate tensors are found where they are
    # used (as inputs of later nodes), as outputs, or as keys of ``labels``.
    out_label = {}
    made = [t for fn in functions for t in fn.inputs if t.creator is not None] + list(roots)
    made += [t for t in labelled if t.creator is not None]
    for t in made:
        key = fn_key.get(id(t.creator))
        text = label_of(t)
        if key is not None and text:
            out_label.setdefault(key, text)
    half = {}                                   # node -> (half width, half height)
    for node, (x, y) in xy.items():
        kind = node[0]
        if kind == "fn":
            op = type(fn_of[node]).__name__
            text = out_label.get(node)
            gate = _gate_of(text)
            h = box_h + (0.16 if text else 0)
            face = _tint(GATE_COLORS[gate]) if gate else "#F2F2F2"
            edge = GATE_COLORS[gate] if gate else "#444444"
            ax.add_patch(FancyBboxPatch((x - box_w / 2, y - h / 2), box_w, h,
                                        boxstyle="round,pad=0,rounding_size=0.06",
                                        fc=face, ec=edge, lw=1.4, gid=f"op:{op}", zorder=2))
            ax.text(x, y, op + (f"\n{text}" if text else ""), ha="center", va="center",
                    fontsize=fontsize, zorder=3, linespacing=1.1)
            half[node] = (box_w / 2, h / 2)
        elif kind in ("leaf", "out"):
            if kind == "leaf":
                t = next(t for t in leaves if id(t) == node[1])
                text = _leaf_text(t, label_of(t))
                is_param = t.requires_grad
                face, edge, style = ("#FFFFFF", "#222222", "-") if is_param else \
                    ("#FFFFFF", "#888888", "--")
                gate = None
            else:
                text = out_text[node]
                gate = _gate_of(text)
                face, edge, style = (_tint(GATE_COLORS[gate]) if gate else "#FFFFFF",
                                     GATE_COLORS[gate] if gate else "#222222", "-")
            visible = len(text.replace("$", "").replace("{", "").replace("}", ""))
            w = max(0.55, 0.085 * visible * fontsize / 9 + 0.25)
            ax.add_patch(Ellipse((x, y), w, 0.3, fc=face, ec=edge, ls=style, lw=1.4,
                                 gid=("leaf:" if kind == "leaf" else "output:") + text,
                                 zorder=2))
            ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3,
                    fontweight="bold" if kind == "out" else "normal")
            half[node] = (w / 2, 0.15)
        else:
            half[node] = (0.0, 0.0)

    # -- edges: straight segments through waypoints, an arrowhead on the last one
    def anchor(node, other):
        (x, y), (hx, hy) = xy[node], half[node]
        if direction == "TB":
            return (x, y - hy) if other[1] < y else (x, y + hy)
        return (x + hx, y) if other[0] > x else (x - hx, y)

    for path in chains:
        pts = [xy[n] for n in path]
        start = anchor(path[0], pts[1])
        end = anchor(path[-1], pts[-2])
        line = [start] + pts[1:-1] + [end]
        if len(line) > 2:
            xs, ys = zip(*line[:-1])
            ax.plot(xs, ys, color="#555555", lw=1.0, zorder=1)
        ax.annotate("", xy=line[-1], xytext=line[-2], zorder=1,
                    arrowprops=dict(arrowstyle="-|>", color="#555555", lw=1.0,
                                    shrinkA=0, shrinkB=0, mutation_scale=10))

    xs = [p[0] for p in xy.values()]
    ys = [p[1] for p in xy.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.35, max(ys) + 0.35)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def _place_across(layers, preds, succs, pitch, sweeps=8):
    """Positions across the layers: each node moves towards the mean position of its
    neighbours, keeping the order of its layer and a minimum gap (smaller for waypoints)."""
    def gap(a, b):
        return pitch if a[0] != "dummy" and b[0] != "dummy" else \
            (pitch * 0.35 if a[0] == "dummy" and b[0] == "dummy" else pitch * 0.65)

    pos = {}
    for layer in layers:
        x = 0.0
        for k, node in enumerate(layer):
            if k:
                x += gap(layer[k - 1], node)
            pos[node] = x
        shift = (pos[layer[0]] + pos[layer[-1]]) / 2 if layer else 0.0
        for node in layer:
            pos[node] -= shift
    for sweep in range(sweeps):
        seq = layers if sweep % 2 == 0 else layers[::-1]
        for layer in seq:
            if not layer:
                continue
            want = []
            for node in layer:
                nb = [pos[n] for n in preds.get(node, []) + succs.get(node, [])]
                want.append(sum(nb) / len(nb) if nb else pos[node])
            # keep the order and the gaps: push right from the left, then centre the
            # layer so that its mean displacement from the wanted positions is zero
            placed = [want[0]]
            for k in range(1, len(layer)):
                placed.append(max(want[k], placed[-1] + gap(layer[k - 1], layer[k])))
            offset = sum(w - p for w, p in zip(want, placed)) / len(layer)
            for node, p in zip(layer, placed):
                pos[node] = p + offset
    return pos


def _tint(color, amount=0.7):
    """``color`` mixed with white (``amount`` of white): a light fill that keeps text legible."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(color)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)
