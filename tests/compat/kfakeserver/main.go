// Command kfakeserver runs franz-go's kfake (the fake Kafka cluster franz-go
// tests itself against) on loopback ports, for the harness (-target kfake): the same
// client test suites run against it give the baseline that Weir's results are
// compared with. The kfake version is the one pinned in go.mod.
//
// It prints one listen address per line on stdout once every broker is
// listening, then runs until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	ports := flag.String("ports", "", "comma-separated ports, one per broker (empty: -brokers brokers on free ports)")
	brokers := flag.Int("brokers", 3, "number of brokers when -ports is empty")
	seedTopic := flag.String("seed-topic", "foo", "topic created at start (franz-go's kfake main seeds \"foo\"); empty for none")
	flag.Parse()

	opts := []kfake.Opt{
		// As franz-go's kfake/run_tests.sh starts kfake for the kgo suite.
		kfake.BrokerConfigs(map[string]string{"group.consumer.heartbeat.interval.ms": "1000"}),
	}
	if *ports != "" {
		var ps []int
		for _, s := range strings.Split(*ports, ",") {
			p, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				fmt.Fprintf(os.Stderr, "kfakeserver: bad port %q\n", s)
				os.Exit(2)
			}
			ps = append(ps, p)
		}
		opts = append(opts, kfake.Ports(ps...))
	} else {
		opts = append(opts, kfake.NumBrokers(*brokers))
	}
	if *seedTopic != "" {
		opts = append(opts, kfake.SeedTopics(-1, *seedTopic))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kfakeserver: %v\n", err)
		os.Exit(1)
	}
	for _, addr := range c.ListenAddrs() {
		fmt.Println(addr)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	<-sigs
	c.Close()
}
