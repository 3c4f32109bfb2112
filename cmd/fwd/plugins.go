package main

// Linking fwd/plugins puts every stage, match and target in the binary.
import _ "fwd/plugins"
