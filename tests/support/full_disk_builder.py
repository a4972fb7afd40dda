"""A real ToMATO build whose response cache fills up: `python -m tests.support.full_disk_builder K <builder args>`.

After K replies are stored, SQLite's own "database or disk is full" (SQLITE_FULL, via max_page_count)
answers every further write, as a full disk would; the tests of what a build does then run this.
"""

import runpy
import sys

from builders.llm import cache as cache_module

puts_before_full = int(sys.argv.pop(1))
original_put = cache_module.ResponseCache.put
puts = [0]


def put(self, key, value):
    puts[0] += 1
    if puts[0] == puts_before_full:
        db = self._connection()
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
    return original_put(self, key, value)


cache_module.ResponseCache.put = put
sys.argv = ["builders.tomato", *sys.argv[1:]]
runpy.run_module("builders.tomato", run_name="__main__")
