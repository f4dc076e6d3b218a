"""Reads splitkv-inspect --json on stdin and checks what ptxas reported for
every kernel of every image: no stack frame, no spills, and on sm_90 (where
two split warps and a combine warp share an SM quadrant) split kernels within
224 registers and the combine kernel within 64 (the balanced kernel is not
capped: two of its CTAs per SM fit at any count, and its combine CTAs wait
for its end); and at least as many specs
as SPEC_DIR has files. Prints one line per spec; exits 1 naming every
kernel that breaks a rule. Usage:
    check_resources.py SPEC_DIR < inspect.json"""
import glob
import json
import os
import sys

CAPS_SM90 = {"split": 224, "combine": 64}

package = json.load(sys.stdin)
problems = []
for spec in package["specs"]:
    roles = {k["name"]: k["role"] for k in spec["kernels"]}
    for image in spec["images"]:
        for kernel in image["kernels"]:
            where = "%s %s sm_%d %s" % (spec["name"], image["kind"], image["sm"], kernel["name"])
            for field in ("stack_bytes", "spill_store_bytes", "spill_load_bytes"):
                if kernel[field]:
                    problems.append("%s: %s %d" % (where, field, kernel[field]))
            cap = CAPS_SM90.get(roles[kernel["name"]]) if image["sm"] == 90 else None
            if cap is not None and kernel["registers"] > cap:
                problems.append("%s: %d registers, over the cap of %d"
                                % (where, kernel["registers"], cap))
    print("%s: %d kernels x %d images checked" % (spec["name"], len(spec["kernels"]),
                                                  len(spec["images"])))
files = glob.glob(os.path.join(sys.argv[1], "*.yaml"))
if len(package["specs"]) < len(files):
    problems.append("%d specs from %d files" % (len(package["specs"]), len(files)))
print("\n".join(problems) if problems else "OK: no stack, no spills, sm_90 within the caps")
sys.exit(1 if problems else 0)
