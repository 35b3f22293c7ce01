"""gate-sim: simulators that speak the real protocols (Modbus TCP barrier PLC, LED board)."""
