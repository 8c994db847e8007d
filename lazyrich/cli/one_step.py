"""``lazyrich one-step``: one large gradient step on the first layer, its spike and the risks after it (Ba et al.)."""
from __future__ import annotations

from .common import emit, parse_seeds


def cmd_one_step(args):
    from ..numerics.one_step import OneStepConfig, one_step

    cfg = OneStepConfig(d=args.d, p=args.p, h=args.h, eta=args.eta, eta_scaling=args.eta_scaling,
                        teacher=args.teacher, noise=args.noise, ptest=args.ptest)
    out = one_step(cfg, parse_seeds(args.seeds))

    def fmt(v):
        return f"{v['mean']:.4f}" + (f" [{v['ci'][0]:.4f}, {v['ci'][1]:.4f}]" if v["ci"] else "")

    lines = [f"one step: d = {cfg.d}, p = {cfg.p}, h = {cfg.h}, teacher {cfg.teacher}, noise {cfg.noise:g}, "
             f"eta = {cfg.eta:g} ({cfg.eta_scaling}: effective {cfg.eta_effective:.4g}), {len(out['seeds'])} seeds",
             f"  spike cosine |cos(u_1, beta*)| {fmt(out['spike_cosine'])}, predicted {out['predicted_cosine']:.4f}",
             f"  singular ratio s1/s2 of W_1 {fmt(out['singular_ratio'])}",
             f"  test risk: random features {fmt(out['risk_random_features'])}, after the step "
             f"{fmt(out['risk_after_step'])}, best linear {out['risk_linear']:.4f}"]
    emit(args, out, "\n".join(lines))


def add_parsers(sub):
    p = sub.add_parser("one-step", help="one large gradient step: the spike in W and the risk of ridge on the features")
    p.add_argument("--d", type=int, default=800, help="input dimension")
    p.add_argument("--p", type=int, default=1600, help="training points (the paper's n), per stage")
    p.add_argument("--h", type=int, default=800, help="hidden units (the paper's N)")
    p.add_argument("--eta", type=float, default=1.0, help="step size; eta sqrt(h) G_0 is added to W_0")
    p.add_argument("--eta-scaling", choices=["const", "sqrt-h"], default="const",
                   help="const: eta = Theta(1); sqrt-h: eta multiplied by sqrt(h), the large step")
    p.add_argument("--teacher", choices=["relu", "tanh", "he2"], default="relu")
    p.add_argument("--noise", type=float, default=0.0, help="standard deviation of the label noise")
    p.add_argument("--ptest", type=int, default=4000, help="test points for the risks")
    p.add_argument("--seeds", default="0:4", help="0:4, or 0,3,5")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_one_step)
