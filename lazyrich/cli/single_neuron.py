"""``lazyrich single-neuron``: the exact lazy/rich solutions of the unbalanced single neuron (Kunin et al.)."""
from __future__ import annotations

from .common import emit


def cmd_single_neuron(args):
    from ..numerics.single_neuron import Problem, parse_matrix, solve

    problem = Problem(parse_matrix(args.sxx, "--sxx"), parse_matrix(args.sxy, "--sxy"),
                      parse_matrix(args.beta0, "--beta0"), args.delta, args.eta_w, args.eta_a)
    result = solve(problem, args.t_max, args.points)
    if args.png:
        from ..studies.single_neuron import delta_family, plot

        plot(problem, delta_family(problem, t_max=args.t_max, points=args.points), args.png)
        result["png"] = args.png
    err = "-" if result["max_error"] is None else f"{result['max_error']:.2e}"
    lines = [f"single neuron, d = {result['d']}, rank Sigma_xx = {result['rank']}, delta = {result['delta']:g}, "
             f"eta_w = {result['eta_w']:g}, eta_a = {result['eta_a']:g}",
             f"  a0 = {result['a0']:.6g}, w0 = {[round(v, 6) for v in result['w0']]}",
             f"  beta(t_max) simulated = {[round(v, 8) for v in result['beta_simulated'][-1]]}",
             f"  beta_inf = {[round(v, 8) for v in result['beta_inf']]} ({result['beta_inf_method']})",
             f"  closed form vs integration: max error {err}"
             + (f" ({result['exact_reason']})" if result["beta_exact"] is None else ""),
             f"  delta drift {result['delta_drift']:.2e}, kernel distance S(t_max) = {result['kernel_distance'][-1]:.4f}"]
    if args.png:
        lines.append(f"  wrote {args.png}")
    emit(args, result, "\n".join(lines))


def add_parsers(sub):
    p = sub.add_parser("single-neuron", help="exact lazy/rich solution of f(x) = a w.x from an unbalanced start")
    p.add_argument("--sxx", required=True, help='input covariance, rows separated by ";": "0.25,0.5;0.5,1"')
    p.add_argument("--sxy", required=True, help='input-output correlation: "0.55,1.1"')
    p.add_argument("--beta0", required=True, help='initial function beta = a w: "0.4,0.05"')
    p.add_argument("--delta", type=float, required=True, help="the conserved imbalance eta_w a^2 - eta_a |w|^2")
    p.add_argument("--eta-w", type=float, default=1.0, help="learning rate of the first layer w")
    p.add_argument("--eta-a", type=float, default=1.0, help="learning rate of the second layer a")
    p.add_argument("--t-max", type=float, default=50.0)
    p.add_argument("--points", type=int, default=201, help="times in [0, t_max] at which beta is reported")
    p.add_argument("--png", help="draw beta trajectories for several delta and the kernel distance")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_single_neuron)
