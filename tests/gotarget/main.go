// Command gotarget is the profiled process of the tests and the demo: a Go program that serves the standard
// library's net/http/pprof handlers in either of the two mux layouts the Argo Rollouts controller has used, and
// runs workloads that make every profile kind worth looking at.
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/argoproj/argo-rollouts/controller/metrics"
	"github.com/argoproj/argo-rollouts/rollout"
)

var (
	addr          = flag.String("addr", "127.0.0.1:0", "pprof listen address (port 0 picks a free port)")
	metricsAddr   = flag.String("metrics-addr", "", "optional Prometheus-style metrics listen address")
	layout        = flag.String("layout", "new", "pprof mux layout: new (trailing slashes, >= v1.8.0) or old (exact paths, v1.8.0-rc1)")
	blockRate     = flag.Int("block-rate", 0, "runtime.SetBlockProfileRate (0 = off, as in Argo Rollouts)")
	mutexFraction = flag.Int("mutex-fraction", 0, "runtime.SetMutexProfileFraction (0 = off, as in Argo Rollouts)")
	burners       = flag.Int("cpu-burners", 1, "goroutines hashing in a loop")
	retainMB      = flag.Int("retain-mb", 8, "megabytes of allocations kept alive")
	growEvery     = flag.Duration("goroutine-growth", 0, "start one more parked goroutine this often (0 = no growth)")
	stacks        = flag.Int("stacks", 0, "park this many goroutines on distinct call stacks")
	contenders    = flag.Int("contenders", 2, "goroutines contending for one mutex")
	workloadList  = flag.String("workloads", "", "comma-separated controller-like workloads: "+strings.Join(workloadNames(), ", "))
	memRate       = flag.Int("memprofile-rate", 0, "runtime.MemProfileRate (0 = Go's default of 512 KiB)")
)

// retained keeps allocations reachable so the heap profile has something in use.
var retained [][]byte

func registerPprof(mux *http.ServeMux, layout string) error {
	switch layout {
	case "new":
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline/", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile/", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol/", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace/", pprof.Trace)
	case "old":
		mux.HandleFunc("/debug/pprof", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	default:
		return fmt.Errorf("unknown layout %q (want new or old)", layout)
	}
	return nil
}

// burnCPU hashes in bursts: enough CPU for a profile to show it, little enough that a test machine running
// several targets stays responsive (about a fifth of a core).
func burnCPU(seed int) {
	buf := []byte(fmt.Sprintf("seed-%d", seed))
	for {
		deadline := time.Now().Add(2 * time.Millisecond)
		for time.Now().Before(deadline) {
			for i := 0; i < 64; i++ {
				sum := sha256.Sum256(buf)
				buf = sum[:]
			}
		}
		time.Sleep(8 * time.Millisecond)
	}
}

func retainMemory(mb int) {
	for i := 0; i < mb*16; i++ {
		retained = append(retained, make([]byte, 64<<10))
	}
}

func churnAllocations() {
	for {
		scratch := make([]byte, 32<<10)
		scratch[0] = 1
		time.Sleep(time.Millisecond)
	}
}

func contend(mu *sync.Mutex, shared *int) {
	for {
		mu.Lock()
		for i := 0; i < 150000; i++ {
			*shared += i
		}
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
	}
}

func parkLeaked(block chan struct{}) { <-block }

func growGoroutines(every time.Duration, block chan struct{}) {
	for range time.Tick(every) {
		go parkLeaked(block)
	}
}

// Distinct stacks: each goroutine descends through a different sequence of frames before parking.
func stackA(depth, path int, block chan struct{}) { descend(depth-1, path, block) }
func stackB(depth, path int, block chan struct{}) { descend(depth-1, path, block) }
func stackC(depth, path int, block chan struct{}) { descend(depth-1, path, block) }

func descend(depth, path int, block chan struct{}) {
	if depth <= 0 {
		<-block
		return
	}
	switch path % 3 {
	case 0:
		stackA(depth, path/3, block)
	case 1:
		stackB(depth, path/3, block)
	default:
		stackC(depth, path/3, block)
	}
}

func main() {
	flag.Parse()
	if *memRate > 0 {
		runtime.MemProfileRate = *memRate
	}
	runtime.SetBlockProfileRate(*blockRate)
	runtime.SetMutexProfileFraction(*mutexFraction)

	mux := http.NewServeMux()
	if err := registerPprof(mux, *layout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server := &http.Server{Handler: mux}
	go server.Serve(listener)

	controllerMetrics := metrics.NewMetricsServer("v1.8.0+gotarget")
	controller := rollout.NewController(controllerMetrics)
	ctx, stopWorkloads := context.WithCancel(context.Background())
	defer stopWorkloads()
	selected := map[string]bool{}
	for _, name := range strings.Split(*workloadList, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if workloads[name] == nil {
			fmt.Fprintf(os.Stderr, "unknown workload %q (want %s)\n", name, strings.Join(workloadNames(), ", "))
			os.Exit(2)
		}
		selected[name] = true
	}

	metricsLine := ""
	if *metricsAddr != "" {
		metricsListener, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		metricsMux := http.NewServeMux()
		metricsMux.Handle("/metrics", controllerMetrics)
		go (&http.Server{Handler: metricsMux}).Serve(metricsListener)
		metricsLine = " metrics " + metricsListener.Addr().String()
	}

	retainMemory(*retainMB)
	go churnAllocations()
	for i := 0; i < *burners; i++ {
		go burnCPU(i)
	}
	var mu sync.Mutex
	shared := 0
	for i := 0; i < *contenders; i++ {
		go contend(&mu, &shared)
	}
	block := make(chan struct{})
	for i := 0; i < *stacks; i++ {
		go descend(8+i%32, i, block)
	}
	if *growEvery > 0 {
		go growGoroutines(*growEvery, block)
	}
	// A few quick reconciles a second, as an idle controller does on resyncs.
	startWorkers := true
	for name := range selected {
		startWorkers = startWorkers && !ownWorkers[name]
	}
	if startWorkers {
		controller.Run(ctx, 1)
		go feedQueue(ctx, controller, 3, time.Second, 3)
	}
	for name := range selected {
		if err := workloads[name](ctx, controller); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}

	// The tests read this line to learn the chosen ports.
	fmt.Printf("listening %s%s\n", listener.Addr().String(), metricsLine)
	os.Stdout.Sync()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	server.Shutdown(ctx)
}
