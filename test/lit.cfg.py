# splitkv lit suite: drives splitkv-compile from the outside and FileChecks
# what it emits and what it reports.
import os
import lit.formats

config.name = "splitkv"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".yaml", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py",
                   "unit", "gpu"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = config.skv_obj_root

config.environment["FILECHECK_OPTS"] = "-enable-var-scope --allow-unused-prefixes=false"
path = os.pathsep.join([config.skv_bin_dir, config.llvm_tools_dir,
                        os.path.join(config.cuda_root, "bin"),
                        config.environment.get("PATH", os.environ["PATH"])])
config.environment["PATH"] = path

config.substitutions.append(("%specs", os.path.join(config.skv_src_root, "specs")))
config.substitutions.append(("%ptxas", os.path.join(config.cuda_root, "bin", "ptxas")))
