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
	"sync"
	"syscall"
	"time"
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

func metricsHandler(w http.ResponseWriter, _ *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
	fmt.Fprintf(w, "# HELP go_memstats_heap_inuse_bytes Heap bytes in use.\n# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes %d\n", ms.HeapInuse)
	var usage syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &usage) == nil {
		cpu := time.Duration(usage.Utime.Nano() + usage.Stime.Nano()).Seconds()
		fmt.Fprintf(w, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\n", cpu)
	}
	fmt.Fprintf(w, "# HELP controller_info Target information.\n# TYPE controller_info gauge\ncontroller_info{version=\"gotarget\"} 1\n")
}

func main() {
	flag.Parse()
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

	metricsLine := ""
	if *metricsAddr != "" {
		metricsListener, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		metricsMux := http.NewServeMux()
		metricsMux.HandleFunc("/metrics", metricsHandler)
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
