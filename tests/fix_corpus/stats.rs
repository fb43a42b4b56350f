pub struct Sample {
    pub values: Vec<f64>,
}

impl Sample {
    pub fn mean(&self) -> Option<f64> {
        if self.values.is_empty() {
            return None;
        }
        let mut sum = 0.0;
        for v in &self.values {
            sum += v;
        }
        Some(sum / self.values.len() as f64)
    }

    pub fn max(&self) -> Option<f64> {
        let mut best: Option<f64> = None;
        for &v in &self.values {
            match best {
                Some(b) if b >= v => {}
                _ => best = Some(v),
            }
        }
        best
    }
}

pub fn label(name: &str) -> String {
    let trimmed = name.trim();
    format!("sample {}", trimmed)
}
