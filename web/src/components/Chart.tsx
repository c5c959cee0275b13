// A time-series chart on uPlot (about 20 kB gzipped, canvas, no dependencies). Colours come from
// the theme's CSS variables and are re-read when the theme changes.

import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { useTheme } from "../theme";

export interface Series {
  label: string;
  /** A CSS variable holding the colour, e.g. `--ok`. */
  colorVar: string;
  values: number[];
}

export interface ChartProps {
  /** Seconds since the epoch, one per point. */
  times: number[];
  series: Series[];
  label: string;
  height?: number;
  testId?: string;
}

export function Chart({ times, series, label, height = 220, testId }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const theme = useTheme();
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const styles = getComputedStyle(document.documentElement);
    const color = (name: string) => styles.getPropertyValue(name).trim() || "#888";
    const axis = { stroke: color("--text-muted"), grid: { stroke: color("--border"), width: 1 }, ticks: { stroke: color("--border") } };
    const options: uPlot.Options = {
      width: Math.max(200, element.clientWidth),
      height,
      series: [
        {},
        ...series.map((entry) => ({
          label: entry.label,
          stroke: color(entry.colorVar),
          width: 2,
          points: { show: false },
        })),
      ],
      axes: [axis, { ...axis, size: 40 }],
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
    };
    const plot = new uPlot(options, [times, ...series.map((entry) => entry.values)], element);
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(200, element.clientWidth), height }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [times, series, height, theme]);
  return <div className="chart" ref={box} role="img" aria-label={label} data-testid={testId} />;
}
