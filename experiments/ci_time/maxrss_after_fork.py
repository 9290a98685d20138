"""A child's ru_maxrss counts its parent's memory at the fork; /proc/self/status's VmHWM does not (Linux).

The reason `tests/test_fault_cases.py`'s memory test reads VmHWM.

    python experiments/ci_time/maxrss_after_fork.py
"""

import subprocess
import sys

CHILD = ("import resource; vm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]; "
         "print(f'child ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB, VmHWM {vm} kB')")

parent = bytearray(1500 * 2**20)
parent[::4096] = b"\1" * len(parent[::4096])  # touch every page, so that the parent holds 1.5 GB
print(subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout.strip())
