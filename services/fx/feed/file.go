package feed

import (
	"context"
	"io"
	"os"
	"time"
)

// FileFeed reads a Sheet from a local file: an operator's rate sheet. It
// looks at the file every interval and reads it when it first runs and
// whenever the file's modification time or size has changed; a sheet is
// thus delivered once per change, with the source times the operator
// wrote. A file that cannot be read is rejected as unavailable, one that
// is not a Sheet as malformed (and read again once it changes). Write the
// sheet to a temporary file and rename it over the old one, so that the
// feed never reads half of it.
type FileFeed struct {
	// Now is the receive clock; nil means time.Now. Set it before Run.
	Now func() time.Time

	path     string
	provider string
	interval time.Duration
}

var _ Feed = (*FileFeed)(nil)

// NewFileFeed returns a feed of provider's rates read from the file at
// path, which it looks at every interval (DefaultInterval if it is not
// positive).
func NewFileFeed(path, provider string, interval time.Duration) *FileFeed {
	return &FileFeed{path: path, provider: provider, interval: intervalOrDefault(interval)}
}

// Provider names the provider.
func (f *FileFeed) Provider() string { return f.provider }

// fileVersion tells one content of the file from another.
type fileVersion struct {
	mod  time.Time
	size int64
}

// Run watches the file until ctx ends and returns ctx.Err(); see Feed.
func (f *FileFeed) Run(ctx context.Context, emit func([]Rate), reject func(reason string)) error {
	reject, now := orNop(reject), clock(f.Now)
	var last *fileVersion
	return ticks(ctx, f.interval, func() {
		data, v, changed, err := f.readIfChanged(last)
		if err != nil {
			reject(ReasonUnavailable)
			return
		}
		if !changed {
			return
		}
		last = &v
		if len(data) > maxSheetBytes {
			reject(ReasonMalformed)
			return
		}
		sentBy, rows, err := decodeSheet(data)
		if err != nil {
			reject(ReasonMalformed)
			return
		}
		deliver(f.provider, sentBy, rows, now(), emit, reject)
	})
}

// readIfChanged reads the file (up to one byte more than maxSheetBytes)
// unless it is still at version last, and says whether it read.
func (f *FileFeed) readIfChanged(last *fileVersion) (data []byte, v fileVersion, changed bool, err error) {
	file, err := os.Open(f.path)
	if err != nil {
		return nil, v, false, err
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return nil, v, false, err
	}
	v = fileVersion{mod: info.ModTime(), size: info.Size()}
	if last != nil && v.mod.Equal(last.mod) && v.size == last.size {
		return nil, v, false, nil
	}
	if data, err = io.ReadAll(io.LimitReader(file, maxSheetBytes+1)); err != nil {
		return nil, v, false, err
	}
	return data, v, true, nil
}
