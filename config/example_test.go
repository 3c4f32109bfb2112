package config_test

import (
	"fmt"

	"fwd/config"
)

func ExampleParse() {
	src := `[[interface]]
name = "lan0"
addr = "192.168.1.1/24"
mtuu = 9000

[[route]]
to = "0.0.0.0/0"
via = "192.168.2.1"
dev = "lan0"
`
	_, err := config.Parse("gw.toml", []byte(src))
	fmt.Println(err)
	// Output:
	// gw.toml:4:1: unknown key "mtuu" in [[interface]]; did you mean "mtu"?
	// gw.toml:8:1: via: 192.168.2.1 is not in lan0's subnet 192.168.1.0/24
}
