"""In-process simulation of one lane (trucks, arm, loop) behind the simulated drivers."""
