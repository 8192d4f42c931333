"""jupyter_kernel_test for the flowers GoNB kernel (run by notebooks_test.go).

Needs: Debian's python3-jupyter-kernel-test, the kernelspec installed by kernel/install.sh in
$JUPYTER_DATA_DIR, and $FLOWERS_REPO (the repository root) so cells can import flowerlib.
Run: JUPYTER_DATA_DIR=... FLOWERS_REPO=... /usr/bin/python3 -m unittest -v kernel_test
"""

import os
import unittest

import jupyter_kernel_test

KERNEL = os.environ.get("FLOWERS_KERNEL_NAME", "flowers-gonb")
REPO = os.environ["FLOWERS_REPO"]
# Each cell is compiled: allow for a loaded 2-core machine (the library default is 15 s).
TIMEOUT = int(os.environ.get("FLOWERS_KERNEL_TEST_TIMEOUT", "300"))


class FlowersGoNBKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = KERNEL
    language_name = "go"
    file_extension = ".go"

    code_hello_world = '%%\nfmt.Println("hello, world")'
    code_stderr = '%%\nfmt.Fprintln(os.Stderr, "to stderr")'
    code_display_data = [
        {"code": '%%\nnb.HTML("<b>flowers</b>")', "mime": "text/html"},
        {"code": '%%\nnb.Markdown("# flowers")', "mime": "text/markdown"},
        # A figure is one output carrying both forms: SVG where trusted, PNG where not.
        {"code": '%%\nnb.Show(plots.BarChart(plots.Chart{Title: "t"}, []plots.Bar{{Label: "a", Value: 1}}))',
         "mime": "image/svg+xml"},
        {"code": '%%\nnb.Show(plots.BarChart(plots.Chart{Title: "t"}, []plots.Bar{{Label: "a", Value: 1}}))',
         "mime": "image/png"},
    ]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Pin flowerlib (and through its go.mod, GoMLX and GoNB) before any import, as the
        # notebooks' first cell does; then compile once so later cells are quick.
        for code in (
            "!*go mod edit -require=github.com/flowerlib/flowers@v0.0.0 "
            f"-replace=github.com/flowerlib/flowers={REPO}",
            'import (\n\t"github.com/flowerlib/flowers/flowerlib/nb"\n'
            '\t"github.com/flowerlib/flowers/flowerlib/plots"\n)\n\n%%\nnb.HTML("warm")',
        ):
            reply = cls.kc.execute_interactive(code, timeout=TIMEOUT, output_hook=lambda msg: None)
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"kernel setup cell failed: {code!r}: {reply['content']}")

    def execute_helper(self, code, timeout=TIMEOUT, **kwargs):
        return super().execute_helper(code, timeout=timeout, **kwargs)

    def test_flowers_error_fails_cell(self):
        """A cell whose program fails (nb.Check on an error) ends with status error and says why."""
        self.flush_channels()
        reply, outputs = self.execute_helper('%%\nnb.Check(fmt.Errorf("no such photo: %s", "x.jpg"))')
        self.assertEqual(reply["content"]["status"], "error")
        text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
        self.assertIn("error: no such photo: x.jpg", text)
        self.assertTrue(any(m["msg_type"] == "error" for m in outputs), outputs)

    def test_flowers_compile_error(self):
        """A cell that does not compile ends with status error."""
        self.flush_channels()
        reply, _ = self.execute_helper("%%\nundefinedFunction()")
        self.assertEqual(reply["content"]["status"], "error")

    def test_flowers_declarations_persist(self):
        """Declarations of one cell are visible in the next (how the settings cell works)."""
        self.flush_channels()
        reply, _ = self.execute_helper('var kernelTestSetting = "kept across cells"')
        self.assertEqual(reply["content"]["status"], "ok")
        reply, outputs = self.execute_helper("%%\nfmt.Println(kernelTestSetting)")
        self.assertEqual(reply["content"]["status"], "ok")
        text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
        self.assertIn("kept across cells", text)

    def test_flowers_environment(self):
        """The kernelspec's env reaches the cell programs (GOEXPERIMENT=simd)."""
        self.flush_channels()
        reply, outputs = self.execute_helper('%%\nfmt.Println("GOEXPERIMENT=" + os.Getenv("GOEXPERIMENT"))')
        self.assertEqual(reply["content"]["status"], "ok")
        text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
        self.assertIn("GOEXPERIMENT=simd", text)


if __name__ == "__main__":
    unittest.main()
