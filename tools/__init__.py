"""Build-time tools (`make package`): not part of the installed package."""
