"""The dispute domain (矛盾纠纷): one dispute as recorded by the grid worker's app, the
township's ledger, the county's intake system and the provincial 矛调 platform."""
