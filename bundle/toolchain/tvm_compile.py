"""Compile one .tflite model to a Model Library Format archive (runs in the tvm image).

Standalone on purpose: the tvm image has TVM at e3a6cb6a and Python 3.8, not the bundle, so
this file is copied into the image alone and takes everything on its command line (see
bundle/toolchain/compile.py, which builds that command from bundle/data/compile.yaml). It uses
the TVM Python API of that era; the host tests only parse it (tests/unit/test_tvm_compile_api.py).

    python3 tvm_compile.py --model M.tflite --target "c -keys=..." --out model.tar \
        [--usmp 0|1] [--cmsis-nn] [--tuning records.tune] [--opt-level 3] [--workspace-byte-alignment 8] \
        [--qnn-conv2d-legalize pinned|int16] [--qnn-dense-legalize pinned|int16]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--out", required=True, help="the .tar Model Library Format archive to write")
    p.add_argument("--usmp", type=int, choices=(0, 1), default=1, help="unified static memory planning")
    p.add_argument("--cmsis-nn", action="store_true", help="offload supported operators to CMSIS-NN")
    p.add_argument("--tuning", default=None, help="AutoTVM records to apply")
    p.add_argument("--opt-level", type=int, default=3)
    p.add_argument("--workspace-byte-alignment", type=int, default=8)
    p.add_argument("--interface-api", default="c")
    p.add_argument("--unpacked-api", type=int, choices=(0, 1), default=1)
    p.add_argument("--disable-vectorize", type=int, choices=(0, 1), default=1)
    p.add_argument("--qnn-conv2d-legalize", choices=("pinned", "int16"), default="pinned",
                   help="int16: widen int8 conv2d inputs to int16 on arm_cpu (see legalize_to_int16)")
    p.add_argument("--qnn-dense-legalize", choices=("pinned", "int16"), default="pinned",
                   help="int16: the same for dense")
    return p.parse_args(argv)


def legalize_to_int16(op: str) -> None:
    """The arm_cpu qnn.conv2d / qnn.dense legalization that casts both inputs to int16 and
    subtracts their zero points (helper_no_fast_int8_hw_legalization,
    python/tvm/relay/qnn/op/legalizations.py). TVM e3a6cb6a takes that path only with NEON
    (`has_asimd`) and keeps int8 on a Cortex-M; OctoML's native ic and vww code has the int16
    path's cast_subtract operators, and its AutoTVM records tune int16 conv2d workloads. Used to
    test that cause (compile.yaml cause_test), not by default."""
    import tvm.relay
    from tvm.relay.qnn.op import legalizations

    relay_op = {"conv2d": tvm.relay.nn.conv2d, "dense": tvm.relay.nn.dense}[op]
    generic = {"conv2d": legalizations.qnn_conv2d_legalize, "dense": legalizations.qnn_dense_legalize}[op]

    def to_int16(attrs, inputs, types):
        return legalizations.helper_no_fast_int8_hw_legalization(attrs, inputs, types, relay_op)

    generic.register("arm_cpu", to_int16, override=True)


def load_tflite(path: str):
    import tflite  # the tflite flatbuffer package pinned in the image (2.4.0)

    with open(path, "rb") as fh:
        buf = fh.read()
    return tflite.Model.GetRootAsModel(buf, 0)


def compile_model(args: argparse.Namespace) -> None:
    import tvm
    import tvm.autotvm
    import tvm.micro
    import tvm.relay
    from tvm.relay.backend import Executor, Runtime

    for op, how in (("conv2d", args.qnn_conv2d_legalize), ("dense", args.qnn_dense_legalize)):
        if how == "int16":
            legalize_to_int16(op)
    mod, params = tvm.relay.frontend.from_tflite(load_tflite(args.model))
    target = tvm.target.Target(args.target)
    executor = Executor("aot", {"unpacked-api": bool(args.unpacked_api), "interface-api": args.interface_api,
                                "workspace-byte-alignment": args.workspace_byte_alignment})
    runtime = Runtime("crt")
    config = {"tir.disable_vectorize": bool(args.disable_vectorize), "tir.usmp.enable": bool(args.usmp)}
    if args.cmsis_nn:
        from tvm.relay.op.contrib import cmsisnn

        # As tvmc's --target "cmsis-nn, c" does it (python/tvm/driver/tvmc/compiler.py at
        # e3a6cb6a): the partitioned functions go to the cmsis-nn target kind by their Compiler
        # attribute, relay.build gets the C target only (src/target/compilation_config.cc
        # rejects an external codegen target listed first), and the CPU reaches CMSIS-NN
        # through relay.ext.cmsisnn.options: with it the kernels' scratch buffers are sized for
        # the DSP extension (src/relay/backend/contrib/cmsisnn/buffer_size.cc), as in OctoML's
        # code (3x3 depthwise, 64 channels: context buffer 1152 = 64*9*2 bytes).
        mod = cmsisnn.partition_for_cmsisnn(mod, params)
        config["relay.ext.cmsisnn.options"] = {"mcpu": str(target.attrs["mcpu"])}
    records = tvm.autotvm.apply_history_best(args.tuning) if args.tuning else contextlib.nullcontext()
    with records, tvm.transform.PassContext(opt_level=args.opt_level, config=config):
        module = tvm.relay.build(mod, target=target, executor=executor, runtime=runtime, params=params)
    write_atomically(args.out, lambda part: tvm.micro.export_model_library_format(module, part))


def write_atomically(out: str, write) -> None:
    """export_model_library_format neither creates folders nor writes atomically: a killed
    compile must not leave a truncated model.tar that looks finished."""
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    part = out + ".part"
    try:
        write(part)
        os.replace(part, out)
    finally:
        if os.path.exists(part):
            os.unlink(part)


def main(argv=None) -> int:
    args = parse_args(argv)
    compile_model(args)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
